# Compiler settings shared by every target of the tree.

find_program(XDIT_CCACHE ccache)
if(XDIT_CCACHE)
  # LibTorch headers are heavy; ccache makes rebuilds of a clean clone cheap.
  # Without this sloppiness ccache refuses every compilation that uses a
  # precompiled header, i.e. all of them. The base directory makes paths
  # relative, so clones and worktrees at the same depth share the cache.
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}
      ${XDIT_CCACHE})
endif()

add_library(xdit_warnings INTERFACE)
target_compile_options(xdit_warnings INTERFACE -Wall -Wextra)
