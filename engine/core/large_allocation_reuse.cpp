#include "core/large_allocation_reuse.hpp"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/torch_compat.hpp"

namespace xdit {
namespace {

// Installed as LibTorch's CPU allocator the first time a scope opens. Every
// block is a plain c10::alloc_cpu block (the default allocator's own aligned
// allocation) whose context is its address, so raw_allocate/raw_deallocate,
// which some kernels use for scratch space, work as with the default. Large
// blocks are remembered by address, so that their size is known when they
// come back.
class ReusingCpuAllocator final : public compat::CpuAllocatorBase {
 public:
  void open_scope() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++scopes_;
  }

  void close_scope() {
    std::vector<void*> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--scopes_ > 0)
        return;
      for (auto& [bytes, blocks] : free_) {
        released.insert(released.end(), blocks.begin(), blocks.end());
      }
      free_.clear();
      stats_.kept_bytes = 0;
    }
    for (void* data : released)
      c10::free_cpu(data);
  }

  LargeAllocationStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  c10::DeleterFnPtr raw_deleter() const override { return &give_back; }

 protected:
  c10::DataPtr allocate_bytes(size_t bytes) const override {
    void* data = bytes >= kMinReusedBytes ? take_large(bytes) : c10::alloc_cpu(bytes);
    return {data, data, &give_back, c10::Device(c10::DeviceType::CPU)};
  }

 private:
  void* take_large(size_t bytes) const {
    std::unique_lock<std::mutex> lock(mutex_);
    auto found = free_.find(bytes);
    if (found != free_.end() && !found->second.empty()) {
      void* data = found->second.back();
      found->second.pop_back();
      ++stats_.reused;
      stats_.kept_bytes -= static_cast<int64_t>(bytes);
      live_[data] = bytes;
      return data;
    }
    ++stats_.fresh;
    lock.unlock();
    void* data = c10::alloc_cpu(bytes);
    lock.lock();
    live_[data] = bytes;
    return data;
  }

  static void give_back(void* data);

  void keep_or_free(void* data) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto live = live_.find(data);
      if (live != live_.end()) {
        const size_t bytes = live->second;
        live_.erase(live);
        if (scopes_ > 0) {
          free_[bytes].push_back(data);
          stats_.kept_bytes += static_cast<int64_t>(bytes);
          return;
        }
      }
    }
    c10::free_cpu(data);
  }

  mutable std::mutex mutex_;
  int scopes_ = 0;
  mutable std::unordered_map<void*, size_t> live_;               // large blocks in use
  mutable std::unordered_map<size_t, std::vector<void*>> free_;  // by size, kept
  mutable LargeAllocationStats stats_;
};

ReusingCpuAllocator& reusing_allocator() {
  // Never destroyed: tensors may outlive static destruction order.
  static auto* allocator = [] {
    auto* created = new ReusingCpuAllocator();
    c10::SetCPUAllocator(created, /*priority=*/1);
    return created;
  }();
  return *allocator;
}

void ReusingCpuAllocator::give_back(void* data) {
  reusing_allocator().keep_or_free(data);
}

}  // namespace

LargeAllocationReuse::LargeAllocationReuse() {
  reusing_allocator().open_scope();
}

LargeAllocationReuse::~LargeAllocationReuse() {
  reusing_allocator().close_scope();
}

LargeAllocationStats large_allocation_stats() {
  return reusing_allocator().stats();
}

}  // namespace xdit
