# LibTorch's headers precompiled once (cmake/torch_pch.cpp) and reused by every target that
# includes them: parsing <torch/torch.h> is most of a ~60 s translation unit here, and ~30 of them
# paid it each (the engine, the Lua tensor binding, the engine tests and benchmarks).
set(CIRCUIT_TORCH_PCH_SOURCE ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cpp)

# circuit_add_torch_pch(NAME): the headers precompiled with the compile options of the calling
# directory, and used from then on by circuit_use_torch_pch in it. A precompiled header is only
# read by a compiler run with the same code-generation options: GCC 14 ties -munroll-only-small-loops
# to -O2 and ignores an -O2 header in an -O1 unit ("created and used with differing settings",
# -Winvalid-pch), so the tests, built at -O1, have their own.
macro(circuit_add_torch_pch name)
  if(CIRCUIT_PCH)
    add_library(${name} STATIC ${CIRCUIT_TORCH_PCH_SOURCE})
    target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES})
    target_precompile_headers(${name} PRIVATE <torch/torch.h>)
    set(CIRCUIT_TORCH_PCH ${name})
  endif()
endmacro()
circuit_add_torch_pch(circuit_torch_pch)

# circuit_use_torch_pch(TARGET): TARGET's sources start from the precompiled LibTorch headers.
function(circuit_use_torch_pch target)
  if(CIRCUIT_PCH)
    target_precompile_headers(${target} REUSE_FROM ${CIRCUIT_TORCH_PCH})
    if(CCACHE_PROGRAM)
      target_compile_options(${target} PRIVATE -fpch-preprocess)
    endif()
  endif()
endfunction()
