// The translation unit that carries LibTorch's precompiled headers (core/engine/CMakeLists.txt,
// circuit_use_torch_pch): CMake precompiles <torch/torch.h> for it, other targets reuse the result.
