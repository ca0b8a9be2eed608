#!/usr/bin/env python3
"""Syntax-checks the engine, workers and app sources against another
LibTorch's headers (e.g. those unpacked from PyPI's torch wheel), reusing the
compile commands of an ordinary (Debian LibTorch) build. No linking happens:
see docs/gpu.md for what this cannot catch.

  scripts/check-torch-headers.py --build build \
      --torch ~/.cache/xdit/libtorch-2.11/torch [--cuda /usr/local/cuda] [FILE...]

When that LibTorch has its own fmt, the system's is put first, as
cmake/XditDependencies.cmake does. Each compiler runs under `nice -n 19`, one at a time. A file that pulls a
torch header from /usr/include (one the other LibTorch lacks) is reported too.
"""

import argparse
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

ROOTS = ("engine/", "workers/", "app/")
CUDA_FILES = (
    "engine/core/gpu_info.cpp",
    "engine/parallel/nccl_backend.cpp",
    "engine/parallel/backend_factory.cpp",
    "engine/parallel/group.cpp",
    "engine/parallel/communicator.cpp",
)
FOREIGN = ("/usr/include/torch/", "/usr/include/ATen/", "/usr/include/c10/",
           "/usr/include/caffe2/")


def pch_headers(hxx):
    """The headers that CMake's cmake_pch.hxx includes."""
    return re.findall(r"^#include [<\"](.+)[>\"]", open(hxx).read(), re.M)


def rewrite(args, source_root, built_root, torch_inc, extra, shim):
    out, pch, skip = [], [], 0
    for i, arg in enumerate(args):
        if skip:
            skip -= 1
            continue
        if arg == "-include":
            # A precompiled header (built against the other LibTorch): its
            # headers are included as plain ones.
            for header in pch_headers(args[i + 1]):
                pch += ["-include", header]
            skip = 1
            continue
        if arg == "-o" or (arg == "-isystem" and "torch" in args[i + 1]):
            # The output and the old torch include dir.
            skip = 1
            continue
        if arg in ("-Winvalid-pch",) or arg.startswith("-D_GLIBCXX_USE_CXX11_ABI"):
            continue
        if arg == "-Xclang":
            skip = 1
            continue
        out.append(arg.replace(built_root.rstrip("/"), source_root.rstrip("/")))
    compiler, rest = out[0], out[1:]
    first = ["-isystem", shim] if shim else []
    return (["nice", "-n", "19", compiler] + first + ["-isystem", torch_inc,
             "-isystem", torch_inc + "/torch/csrc/api/include",
             "-D_GLIBCXX_USE_CXX11_ABI=1", "-DUSE_C10D_GLOO"] + extra + rest[:-2] +
            pch + ["-fsyntax-only"] + rest[-2:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True, help="build folder with compile_commands.json")
    p.add_argument("--torch", required=True, help="the other LibTorch (holds include/)")
    p.add_argument("--source", default=str(pathlib.Path(__file__).resolve().parent.parent),
                   help="source tree to check (default: this one)")
    p.add_argument("--cuda", help="CUDA toolkit: check the files with CUDA code with XDIT_WITH_CUDA")
    p.add_argument("files", nargs="*", help="only these (paths relative to the source)")
    a = p.parse_args()

    commands = json.load(open(os.path.join(a.build, "compile_commands.json")))
    torch_inc = os.path.join(os.path.expanduser(a.torch), "include")
    source = a.source.rstrip("/") + "/"
    failed = []
    # As cmake/XditDependencies.cmake does: spdlog keeps the system's fmt
    # when LibTorch brings its own.
    shim_dir = tempfile.TemporaryDirectory()
    shim = None
    if os.path.exists(os.path.join(torch_inc, "fmt", "core.h")):
        shim = shim_dir.name
        os.symlink("/usr/include/fmt", os.path.join(shim, "fmt"))
    # The tree that the build compiled; its paths are replaced by --source.
    built_root = next(line.split("=", 1)[1].strip() + "/"
                      for line in open(os.path.join(a.build, "CMakeCache.txt"))
                      if line.startswith("CMAKE_HOME_DIRECTORY:"))
    for entry in commands:
        args = shlex.split(entry["command"])
        rel = os.path.relpath(entry["file"], built_root)
        if not rel.startswith(ROOTS) or (a.files and rel not in a.files):
            continue
        if a.cuda and rel not in CUDA_FILES:
            continue
        extra = []
        if a.cuda:
            extra = ["-DXDIT_WITH_CUDA", "-DUSE_C10D_NCCL", "-isystem",
                     os.path.join(a.cuda, "include")]
        cmd = rewrite(args, source, built_root, torch_inc, extra, shim)
        with tempfile.NamedTemporaryFile(suffix=".d") as deps:
            cmd = cmd[:-2] + ["-MD", "-MF", deps.name] + cmd[-2:]
            r = subprocess.run(cmd, cwd=entry["directory"], capture_output=True, text=True)
            foreign = sorted({d for d in open(deps.name).read().split()
                              if d.startswith(FOREIGN)}) if r.returncode == 0 else []
        status = "ok" if r.returncode == 0 and not foreign else "FAIL"
        print(f"{status} {rel}", flush=True)
        if r.returncode or "warning:" in r.stderr:
            print(r.stderr, flush=True)
        for d in foreign:
            print(f"  uses the other LibTorch's {d}", flush=True)
        if status != "ok":
            failed.append(rel)
    print(f"{len(failed)} failed: {' '.join(failed)}" if failed else "all ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
