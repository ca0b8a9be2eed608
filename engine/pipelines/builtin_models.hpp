#pragma once
// Models that the project makes itself, so that everything runs with no
// download: `builtin:tiny-pixart` is a small PixArt-α-architecture pipeline
// (its own T5, SentencePiece tokenizer, VAE and DPM-Solver++ scheduler) with
// deterministic random weights; `builtin:tiny-sd3` (an SD3.5-medium-like
// MMDiT: RMS-normalised queries and keys, dual attention in its first
// blocks; two CLIPs with a small byte-level vocabulary and T5) and
// `builtin:tiny-flux` (a Flux.1-dev-like transformer with guidance
// embedding, CLIP and T5, the dynamically shifted flow-matching scheduler)
// are their families' counterparts. Each is written once as an ordinary
// diffusers folder and then loaded through the same code as a real
// checkpoint.
// `builtin:bench-pixart` is the same pipeline around a larger transformer,
// big enough that compute dominates a step of the parallel methods on CPU
// (`xdit bench --cases methods`).

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xdit::pipelines {

inline constexpr std::string_view kBuiltinPrefix = "builtin:";

std::vector<std::string> builtin_model_names();
bool is_builtin_model(std::string_view spec);

// Where built-in models are written: $XDIT_CACHE_DIR, else
// $XDG_CACHE_HOME/xdit, else ~/.cache/xdit.
std::filesystem::path default_cache_dir();

// A `--model` value to a pipeline folder: a path is returned as it is; a
// built-in name is written into `cache_dir` on first use (atomically, so
// that several processes may ask at once). UsageError for an unknown name.
std::filesystem::path resolve_model(std::string_view spec,
                                    const std::filesystem::path& cache_dir = default_cache_dir());

// The transformer of a built-in PixArt; the text encoder, tokenizer, VAE and
// scheduler are the same for all of them.
struct BuiltinPixArtShape {
  int64_t num_layers = 6;
  int64_t num_attention_heads = 4;
  int64_t attention_head_dim = 48;
  int64_t sample_size = 64;  // latent side; the default image side is 8 × this
};

// builtin:tiny-pixart: 6 layers, 4 heads × 48, 512 px.
inline constexpr BuiltinPixArtShape kTinyPixArtShape{};
// builtin:bench-pixart: 12 layers, 6 heads × 64, 512 px (1024 tokens).
inline constexpr BuiltinPixArtShape kBenchPixArtShape{12, 6, 64, 64};

// Writes a built-in PixArt pipeline with a transformer of `shape` into
// `folder` (which must not exist).
void write_builtin_pixart(const std::filesystem::path& folder, const BuiltinPixArtShape& shape);
// Writes builtin:tiny-pixart into `folder` (which must not exist).
void write_tiny_pixart(const std::filesystem::path& folder);
// Writes builtin:tiny-sd3 into `folder` (which must not exist).
void write_tiny_sd3(const std::filesystem::path& folder);

// The transformer of a built-in Flux; the rest is the same for all of them.
struct BuiltinFluxShape {
  int64_t num_layers = 2;  // double-stream blocks
  int64_t num_single_layers = 4;
  int64_t num_attention_heads = 4;
  int64_t attention_head_dim = 24;
  int64_t rope_axis = 4;  // the first rotary axis; the two others share the rest
};
// builtin:tiny-flux: 2 double + 4 single blocks, 4 heads × 24.
inline constexpr BuiltinFluxShape kTinyFluxShape{};
// builtin:bench-flux: 3 double + 6 single blocks (Flux.1's 1 : 2), 6 heads × 64,
// for `xdit bench --cases methods --model builtin:bench-flux`.
inline constexpr BuiltinFluxShape kBenchFluxShape{3, 6, 6, 64, 8};

void write_builtin_flux(const std::filesystem::path& folder, const BuiltinFluxShape& shape);
void write_tiny_flux(const std::filesystem::path& folder);

}  // namespace xdit::pipelines
