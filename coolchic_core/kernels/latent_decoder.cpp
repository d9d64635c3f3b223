// Native latent decoder of v1 and v2: causal context, fixed-point ARM, range decoding.
// This is the bit-exact half of the decoder, a kernel of its own so that it is built
// for at most x86-64-v3 (kernels/__init__.py): the same scalar code on every x86-64 CPU,
// where the reconstruction (reconstruction.cpp) takes the CPU's widest vectors.
//
// Range decoding reproduces constriction's queue range decoder (constriction 0.5,
// src/stream/queue.rs: 32-bit words, 64-bit state, 24-bit probabilities) with its leaky
// quantised Laplace model (src/stream/model/quantize.rs, LeakyQuantizer over
// [-A, A + 1]), whose cumulative is trunc(free_weight * cdf(x -/+ 1/2)) + (x - min).
// The Laplace cdf is that of the `probability` crate 0.20, and its exp is the one of
// Rust's `libm` crate (a port of FreeBSD msun e_exp.c), written out below operation by
// operation. This file is compiled with -ffp-contract=off and without -ffast-math so
// that every floating point operation rounds as in the Rust code; the Python side
// checks the tables against constriction itself before using this decoder
// (coolchic_core/native_decoding.py). Everything read from a bitstream is
// bounds-checked: garbage gives an error or garbage symbols, never an out-of-range read.

#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

// ---- exp and scalbn of Rust's libm crate (FreeBSD msun e_exp.c, musl scalbn) ----

inline uint64_t bits_of(double x) { uint64_t u; std::memcpy(&u, &x, sizeof u); return u; }
inline double from_bits(uint64_t u) { double x; std::memcpy(&x, &u, sizeof x); return x; }

double msun_scalbn(double x, int n) {
  const double x1p1023 = from_bits(0x7fe0000000000000ULL);
  const double x1p53 = from_bits(0x4340000000000000ULL);
  const double x1p_1022 = from_bits(0x0010000000000000ULL);
  double y = x;
  if (n > 1023) {
    y *= x1p1023; n -= 1023;
    if (n > 1023) { y *= x1p1023; n -= 1023; if (n > 1023) n = 1023; }
  } else if (n < -1022) {
    y *= x1p_1022 * x1p53; n += 1022 - 53;
    if (n < -1022) { y *= x1p_1022 * x1p53; n += 1022 - 53; if (n < -1022) n = -1022; }
  }
  return y * from_bits((uint64_t)(0x3ff + n) << 52);
}

__attribute__((always_inline)) inline double msun_exp(double x) {
  const double half[2] = {0.5, -0.5};
  const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10;
  const double invln2 = 1.44269504088896338700e+00;
  const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03;
  const double P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06;
  const double P5 = 4.13813679705723846039e-08;
  uint32_t hx = (uint32_t)(bits_of(x) >> 32);
  const int sign = (int)(hx >> 31);
  hx &= 0x7fffffff;
  if (hx >= 0x4086232b) {
    if (std::isnan(x)) return x;
    if (x > 709.782712893383973096) return x * from_bits(0x7fe0000000000000ULL);
    if (x < -708.39641853226410622 && x < -745.13321910194110842) return 0.0;
  }
  double hi, lo;
  int k;
  if (hx > 0x3fd62e42) {
    if (hx >= 0x3ff0a2b2) {
      const double t = invln2 * x + half[sign];
      k = (int)t;  // |x| < 746 here: in range of int
    } else {
      k = 1 - sign - sign;
    }
    hi = x - (double)k * ln2hi;
    lo = (double)k * ln2lo;
    x = hi - lo;
  } else if (hx > 0x3e300000) {
    k = 0; hi = x; lo = 0.0;
  } else {
    return 1.0 + x;
  }
  const double xx = x * x;
  const double c = x - xx * (P1 + xx * (P2 + xx * (P3 + xx * (P4 + xx * P5))));
  const double y = 1.0 + (x * c / (2.0 - c) - lo + hi);
  return k == 0 ? y : msun_scalbn(y, k);
}

// ---- constriction's leaky quantised Laplace over [lo, hi] with 24-bit precision ----

constexpr int PRECISION = 24;
constexpr uint32_t ONE = 1u << PRECISION;

// Rust's `f64 as u32`: truncation, saturating, NaN to 0.
inline uint32_t as_u32(double x) {
  if (!(x > 0.0)) return 0;
  if (x >= 4294967295.0) return 0xffffffffu;
  return (uint32_t)x;
}

struct QuantizedLaplace {
  int lo, hi;
  double free_weight, mean, scale;

  double cdf(double x) const {
    if (x <= mean) return 0.5 * msun_exp((x - mean) / scale);
    return 1.0 - 0.5 * msun_exp(-(x - mean) / scale);
  }
  // Left-sided cumulative of `symbol` + 1/2 (the right end of its interval).
  uint32_t right(int symbol) const {
    if (symbol == hi) return ONE;
    return as_u32(free_weight * cdf((double)symbol + 0.5)) + (uint32_t)(symbol - lo) + 1u;
  }
  uint32_t left(int symbol) const { return symbol == lo ? 0u : right(symbol - 1); }

  // A first guess only (any guess gives the same symbol): the nearest integer to the mean
  // for narrow Laplaces, else Rust's `f64 as i32` of the inverse cdf, as constriction.
  int guess(uint32_t quantile) const {
    if (scale <= 2.0 && std::fabs(mean) < 1e6) {
      const int near = (int)std::floor(mean + 0.5);
      return near < lo ? lo : (near > hi ? hi : near);
    }
    const double p = ((double)quantile + 0.5) * (1.0 / (double)ONE);
    const double x = p > 0.5 ? mean - scale * std::log(2.0 - 2.0 * p) : mean + scale * std::log(2.0 * p);
    if (std::isnan(x)) return 0;
    if (x <= (double)lo) return lo;
    if (x >= (double)hi) return hi;
    return (int)x;
  }

  // The symbol whose interval [left, right) holds `quantile`, and that interval.
  int find(uint32_t quantile, uint32_t& left_out, uint32_t& right_out) const {
    // Both ends of the guess at once (independent: they overlap in the CPU), then walk.
    int symbol = guess(quantile);
    uint32_t l = left(symbol), r = right(symbol);
    if (l > quantile) {
      do { --symbol; r = l; l = left(symbol); } while (l > quantile);  // ends: left(lo) = 0
    } else {
      while (r <= quantile) { ++symbol; l = r; r = right(symbol); }  // ends: right(hi) = 2^24
    }
    if (r <= l) throw std::runtime_error("corrupt range-coded segment: empty probability interval");
    left_out = l; right_out = r;
    return symbol;
  }
};

// The same model with every cumulative computed once (the model of an all-zero context).
struct TabulatedLaplace {
  int lo, hi, start;
  std::vector<uint32_t> left_of;  // left_of[x - lo] for x = lo .. hi + 1 (the last is 2^24)

  explicit TabulatedLaplace(const QuantizedLaplace& m) : lo(m.lo), hi(m.hi) {
    for (int x = lo; x <= hi; ++x) left_of.push_back(m.left(x));
    left_of.push_back(ONE);
    start = (int)std::floor(std::fmin(std::fmax(m.mean, (double)lo), (double)hi) + 0.5);
    start = std::min(std::max(start, lo), hi);
  }

  int find(uint32_t quantile, uint32_t& left_out, uint32_t& right_out) const {
    int k = start - lo;
    while (left_of[k] > quantile) --k;  // left_of[0] = 0
    while (left_of[k + 1] <= quantile) ++k;  // left_of[hi + 1 - lo] = 2^24
    left_out = left_of[k];
    right_out = left_of[k + 1];
    if (right_out <= left_out) throw std::runtime_error("corrupt range-coded segment: empty probability interval");
    return lo + k;
  }
};

// ---- constriction's queue RangeDecoder<u32, u64> ----

struct RangeDecoder {
  const uint32_t* words;
  int64_t n_words, pos = 0;
  uint64_t lower = 0, range = ~0ULL, point = 0;

  RangeDecoder(const uint32_t* w, int64_t n) : words(w), n_words(n) {
    int n_read = 0;
    while (n_read < 2 && pos < n_words) { point = (point << 32) | words[pos++]; ++n_read; }
    if (n_read == 1) point <<= 32;
  }

  template <class Model>
  int decode(const Model& model) {
    const uint64_t scale = range >> PRECISION;
    const uint64_t quantile = (point - lower) / scale;
    if (quantile >= ONE) throw std::runtime_error("corrupt range-coded segment: InvalidData");
    uint32_t l, r;
    const int symbol = model.find((uint32_t)quantile, l, r);
    lower += scale * l;
    range = scale * (uint64_t)(r - l);
    if (range < (1ULL << 32)) {
      lower <<= 32; range <<= 32; point <<= 32;
      if (pos < n_words) point |= words[pos++];
    }
    return symbol;
  }
};

const uint32_t* words_of(const torch::Tensor& segment) {
  TORCH_CHECK(segment.dtype() == torch::kInt32 && segment.dim() == 1 && segment.is_contiguous(),
              "a segment is a contiguous 1-D int32 tensor of little-endian words");
  return reinterpret_cast<const uint32_t*>(segment.data_ptr<int32_t>());
}

// ---- the fixed-point ARM, evaluated exactly in float64 (the caller checked the bound) ----

// One layer with sizes known at compile time (the paper's 12-12-12-2 ARM): y = floor(x W + b),
// four outputs per vector. Every product and partial sum is exact (the caller checked the
// bound), so contracting to FMA where the CPU has it changes no result.
typedef double v4d __attribute__((vector_size(32)));

template <int DI, int DO>
__attribute__((optimize("fp-contract=fast"))) inline void arm_layer(
    const double* __restrict x, double* __restrict y, const double* __restrict W,
    const double* __restrict b, bool relu) {
  static_assert(DO % 4 == 0, "four outputs per vector");
  v4d acc[DO / 4];
  for (int j = 0; j < DO / 4; ++j) std::memcpy(&acc[j], b + 4 * j, sizeof(v4d));
  for (int i = 0; i < DI; ++i) {
    const v4d xi = v4d{} + x[i];
    for (int j = 0; j < DO / 4; ++j) {
      v4d w;
      std::memcpy(&w, W + i * DO + 4 * j, sizeof w);
      acc[j] += xi * w;
    }
  }
  for (int j = 0; j < DO / 4; ++j)
    for (int k = 0; k < 4; ++k) {
      const double v = std::floor(acc[j][k]);
      y[4 * j + k] = (relu && v < 0.0) ? 0.0 : v;
    }
}

template <int DI>
inline void arm_output_layer(const double* __restrict x, const double* __restrict W,
                             const double* __restrict b, double& v0, double& v1) {
  double a0 = 0.0, a1 = 0.0;
  for (int i = 0; i < DI; ++i) { a0 += x[i] * W[2 * i]; a1 += x[i] * W[2 * i + 1]; }
  v0 = std::floor(a0 + b[0]);
  v1 = std::floor(a1 + b[1]);
}

struct Arm {
  std::vector<std::vector<double>> W, b;  // W[l]: (in, out) row-major
  std::vector<int> n_in, n_out;
  int fixed_width = 0;  // 12 or 16: the hidden width of a 12-w-w-2 ARM, run by arm_layer
  mutable std::vector<double> x, y;

  Arm(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases) {
    TORCH_CHECK(!weights.empty() && weights.size() == biases.size(), "ARM layers");
    int width = 0;
    for (size_t l = 0; l < weights.size(); ++l) {
      auto w = weights[l].to(torch::kFloat64).contiguous();
      auto bb = biases[l].to(torch::kFloat64).contiguous();
      TORCH_CHECK(w.dim() == 2 && bb.dim() == 1 && bb.size(0) == w.size(1), "ARM layer shape");
      TORCH_CHECK(l == 0 || w.size(0) == n_out.back(), "ARM layer sizes do not chain");
      n_in.push_back((int)w.size(0));
      n_out.push_back((int)w.size(1));
      W.emplace_back(w.data_ptr<double>(), w.data_ptr<double>() + w.numel());
      b.emplace_back(bb.data_ptr<double>(), bb.data_ptr<double>() + bb.numel());
      width = std::max(width, std::max(n_in.back(), n_out.back()));
    }
    TORCH_CHECK(n_out.back() == 2, "the ARM has two outputs");
    x.resize(width);
    y.resize(width);
    fixed_width = compiled_width();
  }

  // The hidden width of a 12-12-12-2 (v1's) or 12-16-16-2 (v2's) ARM, else 0.
  int compiled_width() const {
    if (n_in.size() != 3 || n_in[0] != 12 || n_out[0] != n_out[1]) return 0;
    return (n_out[0] == 12 || n_out[0] == 16) ? n_out[0] : 0;
  }

  template <int D>
  void run_fixed(const double* context, double& v0, double& v1) const {
    double h1[D], h2[D];
    arm_layer<12, D>(context, h1, W[0].data(), b[0].data(), true);
    arm_layer<D, D>(h1, h2, W[1].data(), b[1].data(), true);
    arm_output_layer<D>(h2, W[2].data(), b[2].data(), v0, v1);
  }

  // Integer outputs v0, v1 from the context (n_in[0] values).
  void run(const double* context, double& v0, double& v1) const {
    if (fixed_width == 12) return run_fixed<12>(context, v0, v1);
    if (fixed_width == 16) return run_fixed<16>(context, v0, v1);
    std::copy(context, context + n_in[0], x.begin());
    const size_t last = W.size() - 1;
    for (size_t l = 0; l <= last; ++l) {
      const int di = n_in[l], dout = n_out[l];
      const double* w = W[l].data();
      for (int o = 0; o < dout; ++o) y[o] = 0.0;
      for (int i = 0; i < di; ++i) {
        const double xi = x[i];
        if (xi == 0.0) continue;
        const double* row = w + (size_t)i * dout;
        for (int o = 0; o < dout; ++o) y[o] += xi * row[o];
      }
      for (int o = 0; o < dout; ++o) {
        double v = std::floor(y[o] + b[l][o]);
        x[o] = (l < last && v < 0.0) ? 0.0 : v;
      }
    }
    v0 = x[0];
    v1 = x[1];
  }
};

struct ModelTables {
  const double* scale_by_v1;
  int64_t n_scales, v1_low;
  int bound;
  double free_weight;

  QuantizedLaplace model(double v0, double v1) const {
    // Mean: o = v0 / 256 in float32, rounded to 1/128 half to even; scale through the table.
    const double mean = std::nearbyint((double)(float)v0 * 0.5) / 128.0;
    const double high = (double)(v1_low + n_scales - 1);
    const double index = v1 >= high ? high : (v1 >= (double)v1_low ? v1 : (double)v1_low);  // NaN: low
    const double scale = scale_by_v1[(int64_t)index - v1_low];
    return QuantizedLaplace{-bound, bound + 1, free_weight, mean, scale};
  }
};

// One grid (h, w) from its segment, in the v1 decoding order: by wavefront step
// t = c + r (n + 1) then by row when w > n, else raster order.
void decode_grid(RangeDecoder& dec, const Arm& arm, const ModelTables& tables, int h, int w, int n,
                 int32_t* out) {
  const int pw = w + 2 * n;
  std::vector<double> padded((size_t)(h + n) * pw, 0.0);
  std::vector<int64_t> offsets;
  for (int dr = -n; dr < 0; ++dr)
    for (int dc = -n; dc <= n; ++dc) offsets.push_back((int64_t)dr * pw + dc);
  for (int dc = -n; dc < 0; ++dc) offsets.push_back(dc);
  const int n_ctx = (int)offsets.size();
  TORCH_CHECK(arm.n_in[0] == n_ctx, "the ARM input size is not the context size");
  std::vector<double> zeros(n_ctx, 0.0);
  double zero_v0, zero_v1;
  arm.run(zeros.data(), zero_v0, zero_v1);
  const TabulatedLaplace zero_model(tables.model(zero_v0, zero_v1));

  std::vector<double> context(n_ctx);
  auto visit = [&](int r, int c) {
    const int64_t at = (int64_t)(r + n) * pw + (c + n);
    bool all_zero = true;
    for (int k = 0; k < n_ctx; ++k) {
      context[k] = padded[at + offsets[k]];
      all_zero &= context[k] == 0.0;
    }
    int symbol;
    if (all_zero) {
      symbol = dec.decode(zero_model);
    } else {
      double v0, v1;
      arm.run(context.data(), v0, v1);
      symbol = dec.decode(tables.model(v0, v1));
    }
    padded[at] = (double)symbol;
  };
  if (w > n) {
    const int64_t n_steps = (int64_t)(w - 1) + (int64_t)(h - 1) * (n + 1) + 1;
    for (int64_t t = 0; t < n_steps; ++t) {
      const int64_t r_first = std::max<int64_t>(0, (t - (w - 1) + n) / (n + 1));
      const int64_t r_last = std::min<int64_t>(h - 1, t / (n + 1));
      for (int64_t r = r_first; r <= r_last; ++r) visit((int)r, (int)(t - r * (n + 1)));
    }
  } else {  // raster order: each position depends on the previous one
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) visit(r, c);
  }
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) out[(int64_t)r * w + c] = (int32_t)padded[(int64_t)(r + n) * pw + c + n];
}

}  // namespace

// Decode every grid: segments (int32 words), shapes (h, w), ARM layers as float64
// affine maps (in, out) with the fixed-point folding of arm_fixed_point.py, the
// rounded scale table indexed by v1 - v1_low, the symbol bound A.
std::vector<torch::Tensor> decode_latents(std::vector<torch::Tensor> segments,
                                          std::vector<std::vector<int64_t>> shapes, int64_t n_ctx_rowcol,
                                          std::vector<torch::Tensor> arm_weights,
                                          std::vector<torch::Tensor> arm_biases, torch::Tensor scale_by_v1,
                                          int64_t v1_low, int64_t bound, bool parallel) {
  TORCH_CHECK(segments.size() == shapes.size(), "one segment per grid");
  TORCH_CHECK(bound >= 0 && bound < (1 << 20), "symbol bound out of range");
  TORCH_CHECK(n_ctx_rowcol >= 0 && n_ctx_rowcol < 64, "context size out of range");
  auto table = scale_by_v1.to(torch::kFloat64).contiguous();
  TORCH_CHECK(table.dim() == 1 && table.numel() > 0, "scale table");
  const Arm arm(arm_weights, arm_biases);
  const ModelTables tables{table.data_ptr<double>(), table.numel(), v1_low, (int)bound,
                           (double)((ONE - 1u) - (uint32_t)(2 * bound + 1))};
  std::vector<torch::Tensor> grids;
  for (size_t g = 0; g < segments.size(); ++g) {
    TORCH_CHECK(shapes[g].size() == 2 && shapes[g][0] > 0 && shapes[g][1] > 0, "grid shape");
    grids.push_back(torch::empty({shapes[g][0], shapes[g][1]}, torch::kInt32));
    words_of(segments[g]);
  }
  // Grids are independent streams: with `parallel`, grid 0 (3/4 of the latents) here and
  // the others in a second thread. Errors are reported for the lowest grid.
  std::vector<std::exception_ptr> errors(segments.size());
  auto run = [&](const Arm& own_arm, size_t first, size_t last) {
    for (size_t g = first; g < last; ++g) {
      try {
        RangeDecoder dec(words_of(segments[g]), segments[g].numel());
        decode_grid(dec, own_arm, tables, (int)shapes[g][0], (int)shapes[g][1], (int)n_ctx_rowcol,
                    grids[g].data_ptr<int32_t>());
      } catch (...) {
        errors[g] = std::current_exception();
        return;
      }
    }
  };
  if (parallel && segments.size() > 1) {
    const Arm second_arm = arm;  // its own scratch buffers
    std::thread worker(run, std::cref(second_arm), (size_t)1, segments.size());
    run(arm, 0, 1);
    worker.join();
  } else {
    run(arm, 0, segments.size());
  }
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);
  return grids;
}

// Decode len(means) symbols of one stream with per-symbol Laplace parameters, as
// constriction's RangeDecoder.decode(QuantizedLaplace(-A, A + 1), means, scales).
torch::Tensor range_decode_laplace(torch::Tensor segment, torch::Tensor means, torch::Tensor scales,
                                   int64_t bound) {
  auto m = means.to(torch::kFloat64).contiguous();
  auto s = scales.to(torch::kFloat64).contiguous();
  TORCH_CHECK(m.numel() == s.numel(), "one scale per mean");
  TORCH_CHECK(bound >= 0 && bound < (1 << 20), "symbol bound out of range");
  const double fw = (double)((ONE - 1u) - (uint32_t)(2 * bound + 1));
  RangeDecoder dec(words_of(segment), segment.numel());
  auto out = torch::empty({m.numel()}, torch::kInt32);
  int32_t* o = out.data_ptr<int32_t>();
  const double* mp = m.data_ptr<double>();
  const double* sp = s.data_ptr<double>();
  for (int64_t i = 0; i < m.numel(); ++i) {
    TORCH_CHECK(sp[i] > 0.0, "Laplace scale must be positive");
    o[i] = dec.decode(QuantizedLaplace{(int)-bound, (int)bound + 1, fw, mp[i], sp[i]});
  }
  return out;
}

// Left-sided cumulatives of x = -A .. A + 1 and 2^24 (A + 3 values) for one Laplace.
torch::Tensor laplace_cumulatives(double mean, double scale, int64_t bound) {
  const double fw = (double)((ONE - 1u) - (uint32_t)(2 * bound + 1));
  const QuantizedLaplace model{(int)-bound, (int)bound + 1, fw, mean, scale};
  auto out = torch::empty({2 * bound + 3}, torch::kInt64);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t x = -bound; x <= bound + 1; ++x) o[x + bound] = model.left((int)x);
  o[2 * bound + 2] = ONE;
  return out;
}

double libm_exp(double x) { return msun_exp(x); }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("decode_latents", &decode_latents, "decode all latent grids of a bitstream");
  m.def("range_decode_laplace", &range_decode_laplace, "constriction-exact range decoding");
  m.def("laplace_cumulatives", &laplace_cumulatives, "quantised Laplace cumulatives");
  m.def("libm_exp", &libm_exp, "exp of Rust's libm crate");
}
