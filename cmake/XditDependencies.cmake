# Every third-party dependency is found here, and only here.
# All of them come from Debian bookworm packages (see README.md), except the
# LibTorch of a GPU build (XDIT_LIBTORCH, or CMAKE_PREFIX_PATH).

# A CUDA LibTorch (PyPI's wheel) compiles a CUDA probe while it is found, in
# the project's C++ standard unless CMAKE_CUDA_STANDARD says otherwise, and
# bookworm's CMake (3.25) has no C++20 flag for nvcc. The engine has no CUDA
# sources; see docs/gpu.md.
if(NOT DEFINED CMAKE_CUDA_STANDARD)
  set(CMAKE_CUDA_STANDARD 17)
endif()
# XDIT_LIBTORCH names another LibTorch than the system's: an unpacked official
# archive (libtorch/) or the torch/ folder of PyPI's wheel. Searched first, so
# that its Caffe2 targets come with it and not Debian's (docs/gpu.md).
set(XDIT_LIBTORCH "" CACHE PATH "LibTorch to build against instead of the system's (a folder holding share/cmake/Torch)")
if(XDIT_LIBTORCH)
  if(NOT EXISTS "${XDIT_LIBTORCH}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "XDIT_LIBTORCH=${XDIT_LIBTORCH}: no share/cmake/Torch/TorchConfig.cmake there "
                        "(give the libtorch/ folder of an archive, or a wheel's torch/ folder)")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${XDIT_LIBTORCH}")
endif()
find_package(Torch REQUIRED)        # libtorch-dev: tensors, kernels and c10d
if(Torch_VERSION VERSION_LESS 1.13)
  message(FATAL_ERROR "LibTorch ${Torch_VERSION} in ${Torch_DIR} is too old: 1.13 or 2.x is needed")
endif()
if(XDIT_WITH_CUDA AND NOT TARGET torch_cuda)
  message(FATAL_ERROR "XDIT_WITH_CUDA=ON needs a CUDA-enabled LibTorch, and the one in ${Torch_DIR} "
                      "is CPU-only (scripts/dev.sh build-cuda installs one)")
endif()
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")
find_package(nlohmann_json REQUIRED) # nlohmann-json3-dev: configs and safetensors headers
find_package(spdlog REQUIRED)        # libspdlog-dev: logging with the rank in each line
find_package(CLI11 REQUIRED)         # libcli11-dev: the xdit command line
find_package(PNG REQUIRED)           # libpng-dev: image output with text chunks
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece) # T5 tokenizer
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc) # libicu-dev: Unicode for the CLIP tokenizer

# libsentencepiece carries and exports its own copy of protobuf (3.14), and no
# process can hold it in one symbol scope with the libprotobuf (3.21) that
# LibTorch loads through libonnx_proto: loaded first, sentencepiece's copies
# interpose on libprotobuf's and its static initialisers crash; loaded after,
# sentencepiece's code runs libprotobuf's functions and fails protobuf's
# version check when the first model loads. So only the bridge library of
# engine/isolated links it, and the engine dlopens that with RTLD_DEEPBIND.

# Debian's TorchConfig exports `torch` with the ABI flag; c10d's Gloo backend
# is compiled into libtorch_cpu but its headers need USE_C10D_GLOO.
add_library(xdit_torch INTERFACE)
target_link_libraries(xdit_torch INTERFACE torch)
# PyPI's wheel is built for manylinux with a newer GCC whose libstdc++ parts
# (std::filesystem, <chrono> time zones, ...) are linked statically into
# libtorch.so and exported. Loaded before the system's libstdc++, those
# copies would serve the engine's own calls too, and some of them crash
# there (std::filesystem::remove_all calls through a null pointer). Naming
# libstdc++ before every library puts it first in the lookup order.
target_link_options(xdit_torch INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
target_compile_definitions(xdit_torch INTERFACE USE_C10D_GLOO)
if(XDIT_WITH_CUDA)
  target_compile_definitions(xdit_torch INTERFACE XDIT_WITH_CUDA USE_C10D_NCCL)
  # c10d's ProcessGroupNCCL.hpp includes <nccl.h>, which no torch target
  # provides: pip puts it beside torch (nvidia/nccl), a toolkit under CUDA's.
  find_path(XDIT_NCCL_INCLUDE_DIR nccl.h
            HINTS "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include" ${CUDAToolkit_INCLUDE_DIRS}
                  /usr/local/cuda/include)
  if(NOT XDIT_NCCL_INCLUDE_DIR)
    message(FATAL_ERROR "XDIT_WITH_CUDA=ON: nccl.h not found beside LibTorch (nvidia/nccl) or in "
                        "the CUDA toolkit; set XDIT_NCCL_INCLUDE_DIR")
  endif()
  target_include_directories(xdit_torch SYSTEM INTERFACE "${XDIT_NCCL_INCLUDE_DIR}")
endif()

# PyPI's torch wheel (and the LibTorch archives) carry their own, newer fmt in
# torch/include. As an include directory of `torch` it comes before
# /usr/include and hides the fmt that spdlog was built with: spdlog's headers
# then fail to compile, and would not link with its libfmt. A folder holding a
# link to spdlog's fmt, searched before LibTorch's, keeps spdlog on its own.
# None of the LibTorch 2.11 headers that the engine includes use fmt.
# Debian's LibTorch has no fmt of its own, so nothing changes there.
unset(_xdit_fmt_dir)
if(TARGET fmt::fmt)
  get_target_property(_xdit_fmt_dirs fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  # Only where spdlog says: CMAKE_PREFIX_PATH may name LibTorch itself.
  find_path(_xdit_fmt_dir fmt/core.h PATHS ${_xdit_fmt_dirs} NO_DEFAULT_PATH NO_CACHE)
endif()
foreach(_xdit_dir IN LISTS TORCH_INCLUDE_DIRS)
  if(_xdit_fmt_dir AND EXISTS "${_xdit_dir}/fmt/core.h")
    file(REAL_PATH "${_xdit_dir}" _xdit_real)
    file(REAL_PATH "${_xdit_fmt_dir}" _xdit_fmt_real)
    if(NOT _xdit_real STREQUAL _xdit_fmt_real)
      set(_xdit_shim "${CMAKE_BINARY_DIR}/xdit-system-fmt")
      file(MAKE_DIRECTORY "${_xdit_shim}")
      file(CREATE_LINK "${_xdit_fmt_real}/fmt" "${_xdit_shim}/fmt" SYMBOLIC)
      target_include_directories(xdit_torch SYSTEM BEFORE INTERFACE "${_xdit_shim}")
      message(STATUS "LibTorch's fmt in ${_xdit_dir} is hidden behind ${_xdit_fmt_real}/fmt")
      break()
    endif()
  endif()
endforeach()

# qt6-base-dev, libqcustomplot-dev: xDiT Studio; without them it is not built.
find_package(Qt6 QUIET COMPONENTS Widgets Concurrent PrintSupport Test)
find_package(QCustomPlotQt6 QUIET)

if(XDIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(XDIT_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
