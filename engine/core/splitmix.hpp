#pragma once
// SplitMix64 (Steele, Lea & Flood): a bijective mix of 64 bits whose
// outputs for consecutive inputs are independent-looking, so a counter
// through it is a random stream that can be entered at any position (scene
// i of a seed, step s of a training phase) without drawing the ones before.

#include <cstdint>

namespace xdit {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace xdit
