#!/usr/bin/env python3
"""Lays PNG images out in a grid, each enlarged with nearest-neighbour
sampling and captioned underneath: the README's picture of what
builtin:scenes draws (docs/images/builtin-scenes.png).

usage: scene-montage.py OUT.png COLUMNS IMAGE CAPTION [IMAGE CAPTION ...]
Needs Pillow (pip install pillow).
"""
import sys
import textwrap

from PIL import Image, ImageDraw

SCALE = 3
TEXT_LINES = 4
LINE_HEIGHT = 12


def main():
    out, columns, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    pairs = list(zip(rest[0::2], rest[1::2]))
    images = [Image.open(path).convert("RGB") for path, _ in pairs]
    side = max(max(image.size) for image in images) * SCALE
    cell_w, cell_h = side + 8, side + 8 + TEXT_LINES * LINE_HEIGHT
    rows = (len(pairs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, ((_, caption), image) in enumerate(zip(pairs, images)):
        x, y = (i % columns) * cell_w + 4, (i // columns) * cell_h + 4
        sheet.paste(image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST), (x, y))
        for j, line in enumerate(textwrap.wrap(caption, width=side // 6)[:TEXT_LINES]):
            draw.text((x, y + side + 2 + j * LINE_HEIGHT), line, fill="black")
    sheet.save(out)


if __name__ == "__main__":
    main()
