// Fused training kernels: forward and backward of the memory-bound chains in one pass.
//
// Each kernel does a forward and its backward in one pass over the pixels, 16
// pixels at a time (one AVX-512 register per channel, GCC vector extensions;
// narrower ISAs split the vector), keeping the hidden layers of a block in
// registers or L1 instead of writing full-size tensors. The layer shapes of
// the paper's architecture are compiled for fixed sizes (accumulators in
// registers); other shapes use a generic loop. Work is split into one
// contiguous part per torch thread and partial sums are added in a fixed
// order, so results are deterministic for a given thread count.
//
// Built by coolchic_core.kernels.build (see docs/development.md).

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "bicubic.h"
#include "simd.h"

namespace {


inline vfloat splat(float x) { return vfloat{} + x; }
inline vfloat relu(vfloat x) { const vfloat z{}; return x > z ? x : z; }
inline vfloat loadu(const float* p) { vfloat r; std::memcpy(&r, p, sizeof r); return r; }
inline void storeu(float* p, vfloat x) { std::memcpy(p, &x, sizeof x); }
inline float lane(const vfloat& x, int v) { return x[v]; }

// ---- one layer, fixed sizes (accumulators in registers) or generic ----

template <int DI, int DO>
inline void layer_fwd(const float* __restrict W, const float* __restrict b, const vfloat* __restrict a,
                      vfloat* __restrict z, bool residual, bool hidden) {
  vfloat acc[DO];
  for (int o = 0; o < DO; ++o) acc[o] = splat(b[o]);
  for (int i = 0; i < DI; ++i) {
    const vfloat ai = a[i];
    for (int o = 0; o < DO; ++o) acc[o] += W[o * DI + i] * ai;
  }
  if (residual)
    for (int o = 0; o < DO; ++o) acc[o] += a[o];
  if (hidden)
    for (int o = 0; o < DO; ++o) acc[o] = relu(acc[o]);
  for (int o = 0; o < DO; ++o) z[o] = acc[o];
}

inline void layer_fwd_generic(int DI, int DO, const float* __restrict W, const float* __restrict b,
                              const vfloat* __restrict a, vfloat* __restrict z, bool residual, bool hidden) {
  for (int o = 0; o < DO; ++o) {
    vfloat acc = splat(b[o]);
    for (int i = 0; i < DI; ++i) acc += W[o * DI + i] * a[i];
    if (residual) acc += a[o];
    z[o] = hidden ? relu(acc) : acc;
  }
}

// g: gradient of the layer's output (DO); gin: of its input (DI), masked by
// the previous ReLU when mask_input. dW, db: accumulators.
template <int DI, int DO>
inline void layer_bwd(const float* __restrict W, const vfloat* __restrict a, const vfloat* __restrict g,
                      vfloat* __restrict gin, vfloat* __restrict dW, vfloat* __restrict db, bool residual,
                      bool mask_input) {
  for (int o = 0; o < DO; ++o) {
    const vfloat go = g[o];
    db[o] += go;
    for (int i = 0; i < DI; ++i) dW[o * DI + i] += go * a[i];
  }
  vfloat acc[DI];
  for (int i = 0; i < DI; ++i) acc[i] = residual ? g[i] : vfloat{};
  for (int o = 0; o < DO; ++o) {
    const vfloat go = g[o];
    for (int i = 0; i < DI; ++i) acc[i] += W[o * DI + i] * go;
  }
  const vfloat zero{};
  for (int i = 0; i < DI; ++i) gin[i] = mask_input ? (a[i] > zero ? acc[i] : zero) : acc[i];
}

inline void layer_bwd_generic(int DI, int DO, const float* __restrict W, const vfloat* __restrict a,
                              const vfloat* __restrict g, vfloat* __restrict gin, vfloat* __restrict dW,
                              vfloat* __restrict db, bool residual, bool mask_input) {
  for (int o = 0; o < DO; ++o) {
    db[o] += g[o];
    for (int i = 0; i < DI; ++i) dW[o * DI + i] += g[o] * a[i];
  }
  const vfloat zero{};
  for (int i = 0; i < DI; ++i) {
    vfloat acc = residual ? g[i] : zero;
    for (int o = 0; o < DO; ++o) acc += W[o * DI + i] * g[o];
    gin[i] = mask_input ? (a[i] > zero ? acc : zero) : acc;
  }
}

// v1 (synthesis 7-12-12-3, ARM 12-12-12-2), v2 (synthesis 7-24-3, ARM 12-16-16-2), then v2's
// synthesis at 40 channels (7-40-3), the width of later Cool-chic releases.
#define FIXED_SHAPES(X)                                                                           \
  X(7, 12) X(12, 12) X(12, 3) X(12, 2) X(7, 24) X(24, 3) X(12, 16) X(16, 16) X(16, 2) X(7, 40) \
      X(40, 3)

inline void fwd_any(int DI, int DO, const float* W, const float* b, const vfloat* a, vfloat* z,
                    bool residual, bool hidden) {
#define FWD_CASE(I, O) \
  if (DI == I && DO == O) return layer_fwd<I, O>(W, b, a, z, residual, hidden);
  FIXED_SHAPES(FWD_CASE)
#undef FWD_CASE
  layer_fwd_generic(DI, DO, W, b, a, z, residual, hidden);
}

inline void bwd_any(int DI, int DO, const float* W, const vfloat* a, const vfloat* g, vfloat* gin, vfloat* dW,
                    vfloat* db, bool residual, bool mask_input) {
#define BWD_CASE(I, O) \
  if (DI == I && DO == O) return layer_bwd<I, O>(W, a, g, gin, dW, db, residual, mask_input);
  FIXED_SHAPES(BWD_CASE)
#undef BWD_CASE
  layer_bwd_generic(DI, DO, W, a, g, gin, dW, db, residual, mask_input);
}

// ---- a whole MLP ----

struct Mlp {
  int n_layers = 0;
  std::vector<int> din, dout, w_off, b_off, a_off;
  std::vector<const float*> W, b;
  std::vector<char> residual;
  int max_width = 0, n_w = 0, n_b = 0, n_act = 0;
};

Mlp describe(const std::vector<torch::Tensor>& W, const std::vector<torch::Tensor>& b) {
  Mlp m;
  m.n_layers = (int)W.size();
  int act = 0;
  for (int l = 0; l < m.n_layers; ++l) {
    const int o = (int)W[l].size(0), i = (int)W[l].size(1);
    m.din.push_back(i); m.dout.push_back(o);
    m.w_off.push_back(m.n_w); m.b_off.push_back(m.n_b); m.a_off.push_back(act);
    m.n_w += o * i; m.n_b += o; act += i;
    m.W.push_back(W[l].data_ptr<float>()); m.b.push_back(b[l].data_ptr<float>());
    m.residual.push_back(l < m.n_layers - 1 && o == i);
    m.max_width = std::max(m.max_width, std::max(o, i));
  }
  m.a_off.push_back(act);
  m.n_act = act + m.dout.back();
  return m;
}

// acts: each layer's input, then the output (in vectors of VL lanes).
inline void forward(const Mlp& m, vfloat* acts) {
  for (int l = 0; l < m.n_layers; ++l)
    fwd_any(m.din[l], m.dout[l], m.W[l], m.b[l], acts + m.a_off[l], acts + m.a_off[l + 1],
            m.residual[l], l < m.n_layers - 1);
}

// g: gradient of the output; returns the buffer holding the input's gradient.
inline vfloat* backward(const Mlp& m, const vfloat* acts, vfloat* g, vfloat* tmp, vfloat* dW, vfloat* db) {
  for (int l = m.n_layers - 1; l >= 0; --l) {
    bwd_any(m.din[l], m.dout[l], m.W[l], acts + m.a_off[l], g, tmp, dW + m.w_off[l],
            db + m.b_off[l], m.residual[l], l > 0);
    std::swap(g, tmp);
  }
  return g;
}

struct Part {
  double value = 0.0;
  std::vector<vfloat> dW, db, acts, g, tmp;
  void init(const Mlp& m) {
    dW.assign(m.n_w, vfloat{}); db.assign(m.n_b, vfloat{}); acts.assign(m.n_act, vfloat{});
    g.assign(m.max_width, vfloat{}); tmp.assign(m.max_width, vfloat{});
  }
};

// Sum lanes and parts in a fixed order: one weight and one bias gradient per layer.
std::vector<torch::Tensor> reduce_grads(const Mlp& m, const std::vector<Part>& parts,
                                        const std::vector<torch::Tensor>& W) {
  std::vector<torch::Tensor> out;
  for (int pass = 0; pass < 2; ++pass) {
    for (int l = 0; l < m.n_layers; ++l) {
      const int n = pass == 0 ? m.dout[l] * m.din[l] : m.dout[l];
      const int off = pass == 0 ? m.w_off[l] : m.b_off[l];
      auto t = pass == 0 ? torch::zeros_like(W[l]) : torch::zeros({m.dout[l]}, W[l].options());
      float* dst = t.data_ptr<float>();
      for (int k = 0; k < n; ++k) {
        double s = 0.0;
        for (const auto& p : parts) {
          const vfloat& x = pass == 0 ? p.dW[off + k] : p.db[off + k];
          for (int v = 0; v < VL; ++v) s += lane(x, v);
        }
        dst[k] = (float)s;
      }
      out.push_back(t);
    }
  }
  return out;
}

int n_parts() { return std::max(1, at::get_num_threads()); }

}  // namespace

// Synthesis MLP on features X (C, P), MSE against target (K, P):
// [loss, dX, dW_0.., db_0..].
std::vector<torch::Tensor> synthesis_mse(torch::Tensor X, torch::Tensor target,
                                         std::vector<torch::Tensor> W, std::vector<torch::Tensor> b) {
  const Mlp m = describe(W, b);
  const int64_t C = X.size(0), P = X.size(1), K = target.size(0);
  const float* x = X.data_ptr<float>();
  const float* tgt = target.data_ptr<float>();
  auto dX = torch::empty_like(X);
  float* dx = dX.data_ptr<float>();
  const int64_t n_blocks = (P + VL - 1) / VL;
  const int nt = n_parts();
  std::vector<Part> parts(nt);
  const float scale = 2.0f / (float)(K * P);
  at::parallel_for(0, nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      Part& part = parts[t];
      part.init(m);
      vfloat* acts = part.acts.data();
      const vfloat* out = acts + m.a_off[m.n_layers];
      vfloat sq{};
      for (int64_t blk = n_blocks * t / nt; blk < n_blocks * (t + 1) / nt; ++blk) {
        const int64_t p0 = blk * VL;
        const int valid = (int)std::min<int64_t>(VL, P - p0);
        if (valid == VL) {
          for (int64_t c = 0; c < C; ++c) acts[c] = loadu(x + c * P + p0);
        } else {
          for (int64_t c = 0; c < C; ++c) {
            acts[c] = vfloat{};
            for (int v = 0; v < valid; ++v) acts[c][v] = x[c * P + p0 + v];
          }
        }
        forward(m, acts);
        for (int64_t k = 0; k < K; ++k) {
          vfloat d;
          if (valid == VL) {
            d = out[k] - loadu(tgt + k * P + p0);
          } else {
            d = vfloat{};
            for (int v = 0; v < valid; ++v) d[v] = out[k][v] - tgt[k * P + p0 + v];
          }
          sq += d * d;
          part.g[k] = scale * d;
        }
        const vfloat* gin = backward(m, acts, part.g.data(), part.tmp.data(), part.dW.data(), part.db.data());
        for (int64_t c = 0; c < C; ++c) {
          if (valid == VL) storeu(dx + c * P + p0, gin[c]);
          else for (int v = 0; v < valid; ++v) dx[c * P + p0 + v] = gin[c][v];
        }
      }
      double s = 0.0;
      for (int v = 0; v < VL; ++v) s += lane(sq, v);
      part.value = s;
    }
  });
  double total = 0.0;
  for (const auto& p : parts) total += p.value;
  std::vector<torch::Tensor> result{torch::full({}, (float)(total / (double)(K * P))), dX};
  for (auto& t : reduce_grads(m, parts, W)) result.push_back(t);
  return result;
}

namespace {

constexpr float LOG_SCALE_MIN = -10.0f, LOG_SCALE_MAX = 13.8155f;
constexpr float PROBA_MIN = 1.0f / 65536.0f;

// Rate in bits of y under Laplace(mu, exp(-0.5 clamp(ls))) and its gradients
// (lanes with mask 0 give 0).
inline void laplace_rate(const float* __restrict y, const float* __restrict mu,
                         const float* __restrict ls, const float* __restrict mask,
                         float* __restrict bits, float* __restrict g_y,
                         float* __restrict g_mu, float* __restrict g_ls) {
#pragma GCC ivdep
  for (int v = 0; v < VL; ++v) {
    const float lsc = std::min(std::max(ls[v], LOG_SCALE_MIN), LOG_SCALE_MAX);
    const float s = expf(-0.5f * lsc);
    const float inv_s = 1.0f / s;
    const float dp = y[v] + 0.5f - mu[v], dm = y[v] - 0.5f - mu[v];
    const float xp = expm1f(-std::fabs(dp) * inv_s), xm = expm1f(-std::fabs(dm) * inv_s);
    const float sp = (float)(dp > 0.0f) - (float)(dp < 0.0f);
    const float sm = (float)(dm > 0.0f) - (float)(dm < 0.0f);
    const float p = 0.5f * (sm * xm - sp * xp);
    const bool live = p > PROBA_MIN;
    bits[v] = -mask[v] * log2f(live ? p : PROBA_MIN);
    const float k = live ? -mask[v] / (p * 0.69314718056f) : 0.0f;
    const float ep = xp + 1.0f, em = xm + 1.0f;
    const float dens = 0.5f * inv_s * (ep - em);
    const float dpds = -0.5f * inv_s * inv_s * (dp * ep - dm * em);
    const bool inside = ls[v] >= LOG_SCALE_MIN && ls[v] <= LOG_SCALE_MAX;
    g_y[v] = k * dens;
    g_mu[v] = -k * dens;
    g_ls[v] = inside ? k * dpds * (-0.5f * s) : 0.0f;
  }
}

struct Offsets {
  std::vector<int> dr, dc;
  explicit Offsets(int n) {
    for (int r = -n; r < 0; ++r)
      for (int c = -n; c <= n; ++c) { dr.push_back(r); dc.push_back(c); }
    for (int c = -n; c < 0; ++c) { dr.push_back(0); dc.push_back(c); }
  }
};

// Rows [r0, r1) of one padded grid (row stride Wp, n rows above, n columns
// left): rate, MLP gradients into part, latent gradients into buf (rows
// r0-n..r1-1, same column layout as the padded grid).
void arm_rows(const Mlp& m, const Offsets& off, int n, const float* yp, int Wp, int w, int r0,
              int r1, Part& part, float* buf) {
  const int K = (int)off.dr.size();
  vfloat* acts = part.acts.data();
  const vfloat* out = acts + m.a_off[m.n_layers];
  vfloat total{};
  alignas(64) float mask[VL], bits[VL], gy[VL];
  for (int r = r0; r < r1; ++r) {
    for (int c0 = 0; c0 < w; c0 += VL) {
      const int valid = std::min(VL, w - c0);
      for (int v = 0; v < VL; ++v) mask[v] = v < valid ? 1.0f : 0.0f;
      const vfloat vmask = loadu(mask);
      for (int k = 0; k < K; ++k)
        acts[k] = loadu(yp + (size_t)(r + off.dr[k] + n) * Wp + c0 + off.dc[k] + n) * vmask;
      const float* yrow = yp + (size_t)(r + n) * Wp + c0 + n;
      forward(m, acts);
      vfloat g_mu, g_ls;
      laplace_rate(yrow, (const float*)&out[0], (const float*)&out[1], mask, bits, gy,
                   (float*)&g_mu, (float*)&g_ls);
      total += loadu(bits);
      part.g[0] = g_mu;
      part.g[1] = g_ls;
      const vfloat* gctx = backward(m, acts, part.g.data(), part.tmp.data(), part.dW.data(), part.db.data());
      float* own = buf + (size_t)(r - r0 + n) * Wp + c0 + n;
      storeu(own, loadu(own) + loadu(gy));
      for (int k = 0; k < K; ++k) {
        float* dst = buf + (size_t)(r + off.dr[k] - r0 + n) * Wp + c0 + off.dc[k] + n;
        storeu(dst, loadu(dst) + gctx[k] * vmask);
      }
    }
  }
  for (int v = 0; v < VL; ++v) part.value += lane(total, v);
}

}  // namespace

// ARM on the causal context of every latent of every grid, Laplace rate:
// [total bits, dY_0.., dW_0.., db_0..].
std::vector<torch::Tensor> arm_rate(std::vector<torch::Tensor> Y, std::vector<torch::Tensor> W,
                                    std::vector<torch::Tensor> b, int64_t n_ctx_rowcol) {
  const Mlp m = describe(W, b);
  const int n = (int)n_ctx_rowcol;
  const Offsets off(n);
  const int n_threads = n_parts();
  std::vector<Part> parts(n_threads);
  for (auto& p : parts) p.init(m);
  std::vector<torch::Tensor> dY;
  for (const auto& grid : Y) {
    const int h = (int)grid.size(0), w = (int)grid.size(1);
    // Small grids in one part: a parallel region costs more than their work.
    const int nt = (int64_t)h * w < 16384 ? 1 : n_threads;
    const int Wp = w + 2 * n + VL;
    std::vector<float> yp((size_t)(h + n) * Wp, 0.0f);
    const float* src = grid.data_ptr<float>();
    for (int r = 0; r < h; ++r)
      std::copy(src + (size_t)r * w, src + (size_t)(r + 1) * w, yp.begin() + (size_t)(r + n) * Wp + n);
    std::vector<std::vector<float>> bufs(nt);
    at::parallel_for(0, nt, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int r0 = (int)((int64_t)h * t / nt), r1 = (int)((int64_t)h * (t + 1) / nt);
        bufs[t].assign((size_t)(r1 - r0 + n) * Wp, 0.0f);
        arm_rows(m, off, n, yp.data(), Wp, w, r0, r1, parts[t], bufs[t].data());
      }
    });
    auto dgrid = torch::zeros_like(grid);
    float* dst = dgrid.data_ptr<float>();
    for (int t = 0; t < nt; ++t) {
      const int r0 = (int)((int64_t)h * t / nt), r1 = (int)((int64_t)h * (t + 1) / nt);
      for (int r = std::max(0, r0 - n); r < r1; ++r) {
        const float* row = bufs[t].data() + (size_t)(r - r0 + n) * Wp + n;
        for (int c = 0; c < w; ++c) dst[(size_t)r * w + c] += row[c];
      }
    }
    dY.push_back(dgrid);
  }
  double total = 0.0;
  for (const auto& p : parts) total += p.value;
  std::vector<torch::Tensor> result{torch::full({}, (float)total)};
  for (auto& t : dY) result.push_back(t);
  for (auto& t : reduce_grads(m, parts, W)) result.push_back(t);
  return result;
}
// Gradient of upsample_cascade: dU (N, H, W) to the gradient of each grid. The transpose
// is applied row by row (no band): under -ffast-math a band of its 8-term rows
// (find_band<1, 8, 2>, about twice as fast) rounds otherwise, and training would no
// longer give the bitstreams of the committed benchmark rows (benchmarks/kodak-fast).
const Band<1, 8, 2> NO_BAND{};
std::vector<torch::Tensor> upsample_cascade_backward(torch::Tensor dU, std::vector<torch::Tensor> Y) {
  const int N = (int)Y.size();
  std::vector<torch::Tensor> grads(N);
  torch::Tensor G = dU.contiguous();
  for (int i = 0; i < N - 1; ++i) {
    const int H = (int)Y[i].size(0), W = (int)Y[i].size(1);
    const int h = (int)Y[i + 1].size(0), w = (int)Y[i + 1].size(1);
    const int c = N - 1 - i;
    grads[i] = G[0].clone();
    const Sparse mvt = transpose(bicubic_matrix(h, H)), mht = transpose(bicubic_matrix(w, W));
    auto tmp = torch::empty({c, h, W}, G.options());
    auto prev = torch::empty({c, h, w}, G.options());
    apply_rows(mvt, G.data_ptr<float>() + (int64_t)H * W, tmp.data_ptr<float>(), c, W);
    apply_cols(mht, NO_BAND, tmp.data_ptr<float>(), prev.data_ptr<float>(), (int64_t)c * h);
    G = prev;
  }
  grads[N - 1] = G[0].clone();
  return grads;
}
#include "conv_synthesis.h"

// ---- quantization proxies on the scaled latents grid_i * 2^g_i ----

namespace {

struct SoftRound {
  float inv_t, half_norm;
  explicit SoftRound(float t) : inv_t(1.0f / t), half_norm(0.5f / std::tanh(0.5f / t)) {}
  // s_T(x) and its derivative.
  inline float value(float x, float& deriv) const {
    const float fl = std::floor(x);
    const float th = tanhf((x - fl - 0.5f) * inv_t);
    deriv = half_norm * inv_t * (1.0f - th * th);
    return fl + 0.5f + half_norm * th;
  }
};

}  // namespace

// mode 0 round, 1 straight-through, 2 uniform noise, 3 soft rounding with
// Kumaraswamy noise. u: uniform samples in [0, 1), one per latent (modes 2, 3).
// Returns [yhat_0.., deriv] with deriv = d yhat / d (grid * 2^g), all latents.
std::vector<torch::Tensor> quantize_latents(std::vector<torch::Tensor> grids, torch::Tensor log2_gains,
                                            torch::Tensor u, int64_t mode, double temperature,
                                            double noise_parameter) {
  int64_t total = 0;
  for (const auto& g : grids) total += g.numel();
  auto deriv = torch::empty({total}, log2_gains.options());
  float* d = deriv.data_ptr<float>();
  const float* noise = u.numel() ? u.data_ptr<float>() : nullptr;
  const float* lg = log2_gains.data_ptr<float>();
  const SoftRound sr((float)temperature);
  const float a = (float)noise_parameter;
  const float b = (std::pow(2.0f, a) * (a - 1.0f) + 1.0f) / a;
  const float inv_a = 1.0f / a, inv_b = 1.0f / b;
  const bool uniform = a == 1.0f;
  std::vector<torch::Tensor> out;
  int64_t offset = 0;
  for (size_t i = 0; i < grids.size(); ++i) {
    const float gain = std::exp2(lg[i]);
    auto yhat = torch::empty_like(grids[i]);
    const float* x = grids[i].data_ptr<float>();
    float* o = yhat.data_ptr<float>();
    const int64_t n = grids[i].numel(), base = offset;
    float* dd = d + base;
    const float* un = noise ? noise + base : nullptr;
    at::parallel_for(0, n, 32768, [&](int64_t b0, int64_t b1) {
      if (mode <= 1) {
        for (int64_t k = b0; k < b1; ++k) {
          o[k] = std::nearbyint(x[k] * gain);
          dd[k] = mode == 0 ? 0.0f : 1.0f;
        }
      } else if (mode == 2) {
        for (int64_t k = b0; k < b1; ++k) {
          o[k] = x[k] * gain + un[k] - 0.5f;
          dd[k] = 1.0f;
        }
      } else {
        for (int64_t k = b0; k < b1; ++k) {
          const float e = uniform ? un[k] - 0.5f
                                  : powf(1.0f - powf(1.0f - un[k], inv_b), inv_a) - 0.5f;
          float d1, d2;
          const float s1 = sr.value(x[k] * gain, d1);
          o[k] = sr.value(s1 + e, d2);
          dd[k] = d1 * d2;
        }
      }
    });
    out.push_back(yhat);
    offset += n;
  }
  out.push_back(deriv);
  return out;
}

// Gradients of quantize_latents: [dgrid_0.., dlog2_gains].
std::vector<torch::Tensor> quantize_latents_backward(std::vector<torch::Tensor> grads,
                                                     std::vector<torch::Tensor> grids,
                                                     torch::Tensor log2_gains, torch::Tensor deriv) {
  const float* lg = log2_gains.data_ptr<float>();
  const float* d = deriv.data_ptr<float>();
  auto dgains = torch::zeros_like(log2_gains);
  std::vector<torch::Tensor> out;
  int64_t offset = 0;
  for (size_t i = 0; i < grids.size(); ++i) {
    const float gain = std::exp2(lg[i]);
    auto g = grads[i].contiguous();
    auto dgrid = torch::empty_like(grids[i]);
    const float* gp = g.data_ptr<float>();
    const float* x = grids[i].data_ptr<float>();
    float* o = dgrid.data_ptr<float>();
    const int64_t n = grids[i].numel();
    double sum = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      const float gy = gp[k] * d[offset + k];
      o[k] = gy * gain;
      sum += (double)(gy * x[k]);
    }
    dgains.data_ptr<float>()[i] = (float)(sum * gain * 0.6931471805599453);
    out.push_back(dgrid);
    offset += n;
  }
  out.push_back(dgains);
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("synthesis_mse", &synthesis_mse, "synthesis MLP + MSE, forward and gradients");
  m.def("arm_rate", &arm_rate, "causal context + ARM + Laplace rate, forward and gradients");
  m.def("upsample_cascade", &upsample_cascade, "cascaded bicubic upsampling");
  m.def("upsample_cascade_backward", &upsample_cascade_backward, "its backward");
  m.def("quantize_latents", &quantize_latents, "gain, quantization proxy");
  m.def("quantize_latents_backward", &quantize_latents_backward, "its backward");
  m.def("learned_upsample", &learned_upsample, "v2 learned upsampling cascade");
  m.def("learned_upsample_backward", &learned_upsample_backward, "its backward");
  m.def("conv_synthesis_mse", &conv_synthesis_mse, "v2 synthesis + MSE, forward and gradients");
}
