"""C++ kernels: the `.cpp` sources of this folder and the build cache that compiles them.

Each kernel is declared here once; `build.load_kernel(KERNEL)` returns its
extension module for this CPU (see `build` and docs/development.md).
"""

from coolchic_core.kernels.build import Kernel

# Fused forward + backward passes of training (coolchic_core.model.fused).
FUSED_TRAINING = Kernel(
    "fused_training",
    ("fused_training.cpp",),
    ("-O3", "-ffast-math"),
    headers=("bicubic.h", "conv_synthesis.h"),
)

# The native v1 decoder (coolchic_core.native_decoding). No -ffast-math and no FMA
# contraction: its range decoder must round every float operation as constriction does.
DECODER = Kernel(
    "decoder",
    ("decoder.cpp",),
    ("-O3", "-ffp-contract=off"),
    headers=("bicubic.h", "conv_decoding.h"),
)

KERNELS = (FUSED_TRAINING, DECODER)
