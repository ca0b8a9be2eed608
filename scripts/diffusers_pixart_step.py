"""Times diffusers' PixArtTransformer2DModel on the shapes of `xdit bench`.

The peer of the engine's pixart_xl_* cases: the same PixArt-XL/2 shape
(28 layers of 16 x 72 heads, caption_channels 4096, learned sigma, no size
conditioning), CFG batch 2, 120 prompt tokens all kept, random weights,
float32, on the threads given. Torch 1.13 has no
F.scaled_dot_product_attention, so diffusers runs its plain softmax
attention processor there (AttnProcessor), as any user of that torch gets.

    python3 diffusers_pixart_step.py OUT.json [--threads 1] [--repeats 3]

Writes {"torch", "diffusers", "threads", "cases": {name: {...}}} with the
fastest and median step time of each case and the peak RSS; the FLOP count
(and so the rate) comes from `xdit bench`, which counts the same step.
"""
import argparse
import json
import resource
import time

import torch
import diffusers
from diffusers import PixArtTransformer2DModel

CASES = {
    # name: (pixels, layers), as in engine/bench/serial_cases.cpp
    "pixart_xl_256px": (256, 28),
    "pixart_xl_1024px_4_layers": (1024, 4),
}
BATCH, TEXT_TOKENS, CAPTION_CHANNELS, HEADS, HEAD_DIM = 2, 120, 4096, 16, 72


def run_case(pixels, layers, repeats):
    torch.manual_seed(0)
    model = PixArtTransformer2DModel(
        num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=4,
        out_channels=8, num_layers=layers, cross_attention_dim=HEADS * HEAD_DIM,
        patch_size=2, sample_size=128, caption_channels=CAPTION_CHANNELS,
        use_additional_conditions=False,
    ).eval()
    latent = pixels // 8
    tokens = (latent // 2) ** 2
    x = torch.randn(BATCH, 4, latent, latent)
    text = torch.randn(BATCH, TEXT_TOKENS, CAPTION_CHANNELS)
    mask = torch.ones(BATCH, TEXT_TOKENS, dtype=torch.long)
    timestep = torch.full((BATCH,), 500, dtype=torch.long)

    def step():
        model(x, encoder_hidden_states=text, encoder_attention_mask=mask,
              timestep=timestep, added_cond_kwargs={"resolution": None, "aspect_ratio": None},
              return_dict=False)

    times = []
    with torch.inference_mode():
        step()  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    times.sort()
    best = times[0]
    return {
        "seconds_per_step": best,
        "seconds_per_step_median": times[len(times) // 2],
        "tokens": tokens,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"torch": torch.__version__, "diffusers": diffusers.__version__,
              "threads": args.threads, "cases": {}}
    for name in args.cases.split(","):
        pixels, layers = CASES[name]
        result["cases"][name] = run_case(pixels, layers, args.repeats)
        print(f"diffusers {name}: {result['cases'][name]['seconds_per_step']:.3f} s/step", flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
