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
    headers=("bicubic.h", "conv_synthesis.h", "simd.h"),
)

# The native decoder (coolchic_core.native_decoding) is two kernels. The latents: no
# -ffast-math and no FMA contraction, since its range decoder must round every float
# operation as constriction does; at most x86-64-v3, where it is as fast as with AVX-512
# (`python -m bench.decode_speed`), so that the bit-exact half runs the same scalar and
# 256-bit code on every x86-64 CPU of the last ten years.
LATENT_DECODER = Kernel(
    "latent_decoder",
    ("latent_decoder.cpp",),
    ("-O3", "-ffp-contract=off"),
    max_isa="x86-64-v3",
)
# The reconstruction (upsampling, synthesis): float32 vectors as wide as the CPU has.
RECONSTRUCTION = Kernel(
    "reconstruction",
    ("reconstruction.cpp",),
    ("-O3", "-ffp-contract=off"),
    headers=("bicubic.h", "conv_decoding.h", "simd.h"),
)

KERNELS = (FUSED_TRAINING, LATENT_DECODER, RECONSTRUCTION)
