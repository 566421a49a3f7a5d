# LibTorch's headers precompiled once (cmake/torch_pch.cpp) and reused by every target that
# includes them: parsing <torch/torch.h> is most of a ~60 s translation unit here, and ~30 of them
# paid it each (the engine, the Lua tensor binding, the engine tests and benchmarks).
if(CIRCUIT_PCH)
  add_library(circuit_torch_pch STATIC ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cpp)
  target_link_libraries(circuit_torch_pch PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(circuit_torch_pch PRIVATE <torch/torch.h>)
endif()
# circuit_use_torch_pch(TARGET): TARGET's sources start from the precompiled LibTorch headers.
function(circuit_use_torch_pch target)
  if(CIRCUIT_PCH)
    target_precompile_headers(${target} REUSE_FROM circuit_torch_pch)
    if(CCACHE_PROGRAM)
      target_compile_options(${target} PRIVATE -fpch-preprocess)
    endif()
  endif()
endfunction()

