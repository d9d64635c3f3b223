// The float vector type of the kernels, as wide as the instruction set a build targets
// (kernels/build.py): 16 lanes with AVX-512, 8 with AVX, else 4. The code is written
// for any of these widths; a 64-byte vector on a CPU without AVX-512 is split by the
// compiler into pieces and runs several times slower than 8 lanes.
#pragma once

#if defined(__AVX512F__)
#define COOLCHIC_VL 16
#elif defined(__AVX__)
#define COOLCHIC_VL 8
#else
#define COOLCHIC_VL 4
#endif

constexpr int VL = COOLCHIC_VL;
typedef float vfloat __attribute__((vector_size(4 * COOLCHIC_VL)));

// Lane indices for __builtin_shufflevector on two vectors a, b (lanes VL.. are b's):
// interleaving (a0 b0 a1 b1 ...: low and high halves) and deinterleaving (even, odd).
#if COOLCHIC_VL == 16
#define COOLCHIC_INTERLEAVE_LOW 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define COOLCHIC_INTERLEAVE_HIGH 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#define COOLCHIC_EVEN_LANES 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define COOLCHIC_ODD_LANES 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#elif COOLCHIC_VL == 8
#define COOLCHIC_INTERLEAVE_LOW 0, 8, 1, 9, 2, 10, 3, 11
#define COOLCHIC_INTERLEAVE_HIGH 4, 12, 5, 13, 6, 14, 7, 15
#define COOLCHIC_EVEN_LANES 0, 2, 4, 6, 8, 10, 12, 14
#define COOLCHIC_ODD_LANES 1, 3, 5, 7, 9, 11, 13, 15
#else
#define COOLCHIC_INTERLEAVE_LOW 0, 4, 1, 5
#define COOLCHIC_INTERLEAVE_HIGH 2, 6, 3, 7
#define COOLCHIC_EVEN_LANES 0, 2, 4, 6
#define COOLCHIC_ODD_LANES 1, 3, 5, 7
#endif
