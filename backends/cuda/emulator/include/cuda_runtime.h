// The CUDA emulator's stand-in for the toolkit header of this name (see cuda_emulator/).
#pragma once

#include "cuda_emulator/runtime.hpp"
