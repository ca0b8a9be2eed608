# Every third-party dependency is found here, and only here.
# All of them come from Debian bookworm packages (see README.md).

# A CUDA LibTorch (PyPI's wheel) compiles a CUDA probe while it is found, in
# the project's C++ standard unless CMAKE_CUDA_STANDARD says otherwise, and
# bookworm's CMake (3.25) has no C++20 flag for nvcc. The engine has no CUDA
# sources; see docs/gpu.md.
if(NOT DEFINED CMAKE_CUDA_STANDARD)
  set(CMAKE_CUDA_STANDARD 17)
endif()
find_package(Torch REQUIRED)        # libtorch-dev: tensors, kernels and c10d
find_package(nlohmann_json REQUIRED) # nlohmann-json3-dev: configs and safetensors headers
find_package(spdlog REQUIRED)        # libspdlog-dev: logging with the rank in each line
find_package(CLI11 REQUIRED)         # libcli11-dev: the xdit command line
find_package(PNG REQUIRED)           # libpng-dev: image output with text chunks
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece) # T5 tokenizer

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
target_compile_definitions(xdit_torch INTERFACE USE_C10D_GLOO)
if(XDIT_WITH_CUDA)
  target_compile_definitions(xdit_torch INTERFACE XDIT_WITH_CUDA USE_C10D_NCCL)
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
  find_path(_xdit_fmt_dir fmt/core.h HINTS ${_xdit_fmt_dirs} NO_CACHE)
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
