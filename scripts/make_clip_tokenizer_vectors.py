#!/usr/bin/env python3
"""Reference tokenizations for the C++ CLIP tokenizer (tests/data/clip_tokenizer).

Writes vocab.json and merges.txt in the form of a diffusers `tokenizer/` folder,
made from the first MERGES merges of CLIP's own BPE table (the file that
open_clip ships, the same merges as openai/clip-vit-large-patch14's
merges.txt), and cases.json: for each string, transformers' CLIPTokenizer
(the slow one that SD3's and Flux's model_index.json name, without ftfy, as
transformers installs it) gives its BPE pieces and the ids of
`tokenizer(text, padding="max_length", max_length=77, truncation=True)`.

A shortened merge table keeps the data small; the algorithm is the same for
the whole table, and the strings are chosen so that many merges apply.

    ~/.cache/xdit/diffusers-venv/bin/pip install transformers==4.44.2
    ~/.cache/xdit/diffusers-venv/bin/python scripts/make_clip_tokenizer_vectors.py
"""
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

MERGES = 6000
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "clip_tokenizer")

CASES = [
    "a photo of a cat",
    "A lighthouse on a cliff at sunset, oil painting",
    "  leading and trailing   spaces\tand\ttabs\nand newlines  ",
    "UPPER case And MiXeD",
    "don't you're we've I'm they'll she'd it's",
    "'s at the start, and 'S upper",
    "numbers 1234567890 and 3.14159, 2nd 21st",
    "punctuation!!! ?? ... ,,, ;; -- (brackets) [square] {curly} <angle>",
    "emoji 🐱🚀 and symbols © ® ™ ° ± ×",
    "café naïve résumé coöperate",
    "e\u0301 combining accent (NFC makes it é)",
    "Ελληνικά κείμενο ΣΊΣΥΦΟΣ",
    "русский текст, Москва",
    "中文字符测试 and 日本語のテキスト",
    "한국어 텍스트",
    "עברית العربية",
    "İstanbul ǅ ß ﬁ",
    "tabs\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "control\u0007chars\u0000and\ufffdreplacement",
    "a<|endoftext|>b <|startoftext|> c",
    "urls https://example.com/path?q=1&r=2#frag and emails a.b@c.de",
    "hyphen-ated words_with_underscores and/slashes",
    "x" * 40,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["a very long prompt that goes on and on"] * 12),
    "",
    "   ",
    "🙂",
]


def clip_bpe_lines():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        "open_clip_torch==3.3.0"], check=True)
        wheel = next(f for f in os.listdir(tmp) if f.endswith(".whl"))
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
            data = z.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
    return gzip.decompress(data).decode("utf-8").split("\n")


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def main():
    from transformers import CLIPTokenizer

    merges = [tuple(line.split()) for line in clip_bpe_lines()[1:1 + MERGES]]
    # The vocabulary as CLIP builds it: the bytes, the bytes ending a word,
    # every merge, then the two special tokens.
    byte_chars = bytes_to_unicode()
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(OUT, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(" ".join(m) + "\n" for m in merges))

    tokenizer = CLIPTokenizer(os.path.join(OUT, "vocab.json"), os.path.join(OUT, "merges.txt"))
    assert tokenizer.fix_text is None, "ftfy is installed: its text fixing is not what is tested"
    cases = []
    for text in CASES:
        ids = tokenizer(text, padding="max_length", max_length=77, truncation=True)["input_ids"]
        cases.append({"text": text, "tokens": tokenizer.tokenize(text), "input_ids": ids})
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/make_clip_tokenizer_vectors.py",
                   "reference": "transformers 4.44.2 CLIPTokenizer (slow, no ftfy)",
                   "merges": MERGES, "max_length": 77, "cases": cases},
                  f, ensure_ascii=False, indent=1)
    print(f"{len(cases)} cases, {len(vocab)} tokens in {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()
