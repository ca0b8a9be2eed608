#!/usr/bin/env python3
"""Whole-pipeline references: diffusers' image from the built-in tiny pipelines.

The engine writes builtin:tiny-sd3 and builtin:tiny-flux as ordinary
diffusers folders (tokenizers, text encoders, transformer, VAE, scheduler,
deterministic random weights). This script runs diffusers' own
StableDiffusion3Pipeline and FluxPipeline on those folders, on CPU in
float32, with a fixed prompt, seed and size, and stores the image (uint8, as
numpy_to_pil rounds it) and the final latents in tests/data/pipelines/, with
the settings in __metadata__. tests/engine/pipeline_parity_test.cpp asks the
engine for the same image and holds it to one 8-bit level.

    XDIT_CACHE_DIR=/tmp/xdit-cache build/app/xdit generate --model builtin:tiny-sd3 ...
    (or any command that resolves the built-in names; they land in that cache)
    ~/.cache/xdit/diffusers-0.35-venv/bin/pip install sentencepiece protobuf
    ~/.cache/xdit/diffusers-0.35-venv/bin/python scripts/make_pipeline_vectors.py /tmp/xdit-cache

(the venv is the one of scripts/make_mmdit_vectors.py).
"""
import json
import os
import sys

import diffusers
import numpy as np
import torch
from diffusers import FluxPipeline, StableDiffusion3Pipeline
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pipelines")

CASES = [
    # name, folder in the cache, pipeline class, call settings
    ("tiny_sd3", "tiny-sd3-v1", StableDiffusion3Pipeline,
     {"prompt": "a red cat on a blue sofa", "negative_prompt": "blurry", "height": 128,
      "width": 192, "num_inference_steps": 4, "guidance_scale": 7.0, "seed": 7}),
    ("tiny_flux", "tiny-flux-v1", FluxPipeline,
     {"prompt": "a red cat on a blue sofa", "height": 128, "width": 192,
      "num_inference_steps": 4, "guidance_scale": 3.5, "seed": 7}),
]


def run(pipeline, settings, output_type):
    call = dict(settings)
    seed = call.pop("seed")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return pipeline(**call, generator=generator, output_type=output_type).images


def main(cache):
    os.makedirs(OUT, exist_ok=True)
    for name, folder, cls, settings in CASES:
        pipeline = cls.from_pretrained(os.path.join(cache, folder), torch_dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        image = run(pipeline, settings, "np")  # [1, H, W, 3] float in [0, 1]
        pixels = torch.from_numpy(np.round(image * 255).astype(np.uint8))
        latents = run(pipeline, settings, "latent")
        metadata = {
            "settings": json.dumps(settings),
            "builtin": "builtin:" + folder.rsplit("-v", 1)[0],
            "folder": folder,
            "pipeline": cls.__name__,
            "reference": "diffusers v" + diffusers.__version__,
            "environment": "CPU float32, torch " + torch.__version__,
            "notes": "images: uint8 round(x * 255) of output_type='np'; latents: "
                     "output_type='latent' (Flux: packed [B, tokens, 64])",
            "generator": "scripts/make_pipeline_vectors.py",
        }
        path = os.path.join(OUT, name + ".safetensors")
        save_file({"images": pixels.contiguous(), "latents": latents.contiguous()}, path,
                  metadata=metadata)
        print("wrote", path, tuple(pixels.shape))


if __name__ == "__main__":
    main(sys.argv[1])
