#!/usr/bin/env python3
"""Reference vectors for MMDiT configs beyond ../shared/golden (tests/data/golden).

Made with a current diffusers, which has SD3.5's additions that v0.30.3 lacks:
  sd35_tiny          SD3Transformer2DModel with qk_norm "rms_norm" and dual
                     attention in two of three blocks, on a non-square latent;
  flux_tiny_schnell  FluxTransformer2DModel without a guidance embedder
                     (schnell), on a non-square packed latent.
Same layout as the golden vectors: w.<state_dict key>, in.*, out.*, aux.*,
and __metadata__ with the config, the class and the exact call.

Weights are the library's initialisation from a fixed seed, then every
parameter that initialisation left constant (norm weights, zero biases,
zeroed output layers) gets 0.1 * randn added, so that no path is trivially
zero. The environment (the pinned torch 2.11 of scripts/dev.sh plus
diffusers 0.35.2) is made by:

    python3 -m venv ~/.cache/xdit/diffusers-0.35-venv   # python of the torch venv
    echo ~/.cache/xdit/torch-2.11.0-venv/lib/python3.11/site-packages \
        > ~/.cache/xdit/diffusers-0.35-venv/lib/python3.11/site-packages/torch.pth
    ~/.cache/xdit/diffusers-0.35-venv/bin/pip install diffusers==0.35.2 transformers==4.44.2
    ~/.cache/xdit/diffusers-0.35-venv/bin/python scripts/make_mmdit_vectors.py
"""
import json
import os

import diffusers
import torch
from diffusers import FluxTransformer2DModel, SD3Transformer2DModel
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")


def perturb_constants(model, generator):
    with torch.no_grad():
        for parameter in model.parameters():
            flat = parameter.flatten()
            if bool((flat == flat[0]).all()):
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


def save(case, model, config, inputs, outputs, call, aux=None, notes=""):
    tensors = {"w." + k: v.contiguous() for k, v in model.state_dict().items()}
    tensors.update({"in." + k: v.contiguous() for k, v in inputs.items()})
    tensors.update({"out." + k: v.contiguous() for k, v in outputs.items()})
    tensors.update({"aux." + k: v.contiguous() for k, v in (aux or {}).items()})
    metadata = {
        "config": json.dumps(config),
        "reference": "diffusers v" + diffusers.__version__,
        "case": case,
        "class": type(model).__name__,
        "call": call,
        "tolerance": "1e-5",
        "notes": notes,
        "environment": "CPU float32, torch " + torch.__version__ + ", eval(), no_grad",
        "generator": "scripts/make_mmdit_vectors.py",
    }
    path = os.path.join(OUT, case + ".safetensors")
    save_file(tensors, path, metadata=metadata)
    print("wrote", path)


def sd35_tiny():
    torch.manual_seed(1035)
    generator = torch.Generator().manual_seed(1035)
    config = {"sample_size": 16, "patch_size": 2, "in_channels": 16, "num_layers": 3,
              "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 40,
              "caption_projection_dim": 32, "pooled_projection_dim": 24, "out_channels": 16,
              "pos_embed_max_size": 16, "qk_norm": "rms_norm", "dual_attention_layers": [0, 1]}
    model = SD3Transformer2DModel(**config).eval()
    perturb_constants(model, generator)
    inputs = {
        "hidden_states": torch.randn(2, 16, 8, 12, generator=generator),
        "encoder_hidden_states": torch.randn(2, 7, 40, generator=generator),
        "pooled_projections": torch.randn(2, 24, generator=generator),
        "timestep": torch.tensor([900.0, 250.0]),
    }
    with torch.no_grad():
        sample = model(**inputs, return_dict=False)[0]
    save("sd35_tiny", model, config, inputs, {"sample": sample},
         "out.sample = model(hidden_states=in.hidden_states, encoder_hidden_states="
         "in.encoder_hidden_states, pooled_projections=in.pooled_projections, "
         "timestep=in.timestep, return_dict=False)[0]; timestep = sigma * 1000.",
         notes="SD3.5: RMS-normalised q/k (norm_q, norm_k, norm_added_q, norm_added_k) and "
               "dual attention (attn2, SD35AdaLayerNormZeroX with 9 chunks) in blocks 0 and 1; "
               "the last block is context_pre_only.")


def pack(latents):
    b, c, h, w = latents.shape
    return latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(
        b, (h // 2) * (w // 2), c * 4)


def flux_tiny_schnell():
    torch.manual_seed(1036)
    generator = torch.Generator().manual_seed(1036)
    config = {"patch_size": 1, "in_channels": 16, "num_layers": 2, "num_single_layers": 2,
              "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 32,
              "pooled_projection_dim": 16, "guidance_embeds": False, "axes_dims_rope": [4, 6, 6]}
    model = FluxTransformer2DModel(**config).eval()
    perturb_constants(model, generator)
    latents = torch.randn(2, 4, 8, 12, generator=generator)
    rows, cols = 4, 6
    img_ids = torch.zeros(rows, cols, 3)
    img_ids[..., 1] = torch.arange(rows)[:, None]
    img_ids[..., 2] = torch.arange(cols)[None, :]
    img_ids = img_ids.reshape(rows * cols, 3)
    text = torch.randn(2, 5, 32, generator=generator)
    txt_ids = torch.zeros(5, 3)
    inputs = {
        "hidden_states": pack(latents),
        "encoder_hidden_states": text,
        "pooled_projections": torch.randn(2, 16, generator=generator),
        "timestep": torch.tensor([0.75, 0.3]),
    }
    with torch.no_grad():
        sample = model(**inputs, img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]
    inputs["img_ids"] = img_ids.expand(2, -1, -1)
    inputs["txt_ids"] = txt_ids.expand(2, -1, -1)
    unpacked = sample.view(2, rows, cols, 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(2, 4, 8, 12)
    save("flux_tiny_schnell", model, config, inputs, {"sample": sample},
         "out.sample = model(hidden_states=in.hidden_states, encoder_hidden_states="
         "in.encoder_hidden_states, pooled_projections=in.pooled_projections, "
         "timestep=in.timestep, img_ids=in.img_ids[0], txt_ids=in.txt_ids[0], "
         "return_dict=False)[0]; timestep = sigma (the pipeline's t / 1000); no guidance "
         "(schnell). The ids are stored 3-D (batch, seq, 3) as v0.30.3 took them.",
         aux={"latents": latents, "sample_unpacked": unpacked},
         notes="in.hidden_states = FluxPipeline._pack_latents(aux.latents); "
               "aux.sample_unpacked = FluxPipeline._unpack_latents(out.sample).")


if __name__ == "__main__":
    sd35_tiny()
    flux_tiny_schnell()
