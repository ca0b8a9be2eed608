# Every third-party dependency is found here, and only here.
# All of them come from Debian bookworm packages (see README.md).

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

# qt6-base-dev, libqcustomplot-dev: xDiT Studio; without them it is not built.
find_package(Qt6 QUIET COMPONENTS Widgets Concurrent PrintSupport Test)
find_package(QCustomPlotQt6 QUIET)

if(XDIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(XDIT_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
