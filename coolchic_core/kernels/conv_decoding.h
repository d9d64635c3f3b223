// v2 reconstruction for the decoder (inference only): the learned 8-tap upsampling cascade
// and the convolutional synthesis (1x1 and 3x3 layers, replicate padding), computing what
// formats/v2/layers.py computes (to float rounding: the sums run in another order).
// The training kernels of the same operations, with their backward, are conv_synthesis.h.
//
// Included by reconstruction.cpp. Every output sample is computed by the same operations whatever
// the split of the work over threads, so the result does not depend on the thread count.
// The encoder estimates its PSNR through these same functions (formats/v2/inference.py).
#pragma once

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "simd.h"

namespace v2dec {

constexpr int MAX_CHANNELS = 64;  // of any synthesis layer (the v2 header's limit)

inline vfloat splat(float x) { return vfloat{} + x; }
inline vfloat relu(vfloat x) { return x > vfloat{} ? x : vfloat{}; }

inline vfloat load_n(const float* p, int n) {
  vfloat r{};
  if (n == VL) std::memcpy(&r, p, sizeof r);
  else std::memcpy(&r, p, sizeof(float) * n);
  return r;
}

inline void store_n(float* p, vfloat x, int n) {
  if (n == VL) std::memcpy(p, &x, sizeof x);
  else std::memcpy(p, &x, sizeof(float) * n);
}

inline int clampi(int x, int lo, int hi) { return x < lo ? lo : (x > hi ? hi : x); }

// ---- learned upsampling: k[3 - a] = k[4 + a] = half[a]; output q of n samples reads
// x[clamp(q / 2 + m + q % 2 - 2)] with tap k[2m + q % 2], m = 0..3 ----

struct Taps {
  float k[8];
  explicit Taps(const float* half) {
    for (int a = 0; a < 4; ++a) k[3 - a] = k[4 + a] = half[a];
  }
};

// Rows: x (c, n, w) to out (c, size, w), one output row per task.
void upsample_rows(const float* x, float* out, int c, int n, int w, int size, const Taps& t) {
  at::parallel_for(0, (int64_t)c * size, 64, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int ch = (int)(task / size), q = (int)(task % size);
      const float* s[4];
      float k[4];
      for (int m = 0; m < 4; ++m) {
        s[m] = x + ((int64_t)ch * n + clampi(q / 2 + m + q % 2 - 2, 0, n - 1)) * w;
        k[m] = t.k[2 * m + q % 2];
      }
      float* o = out + task * w;
      for (int col = 0; col < w; ++col)
        o[col] = k[0] * s[0][col] + k[1] * s[1][col] + k[2] * s[2][col] + k[3] * s[3][col];
    }
  });
}

// Columns: each of n_rows rows of n samples to size samples.
void upsample_cols(const float* x, float* out, int64_t n_rows, int n, int size, const Taps& t) {
  at::parallel_for(0, n_rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> p(n + 4);
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * n;
      p[0] = p[1] = row[0];
      std::copy(row, row + n, p.begin() + 2);
      p[n + 2] = p[n + 3] = row[n - 1];
      float* o = out + r * size;
      for (int q = 0; q < size; ++q) {
        const int j = q / 2;
        o[q] = q % 2 ? t.k[1] * p[j + 1] + t.k[3] * p[j + 2] + t.k[5] * p[j + 3] + t.k[7] * p[j + 4]
                     : t.k[0] * p[j] + t.k[2] * p[j + 1] + t.k[4] * p[j + 2] + t.k[6] * p[j + 3];
      }
    }
  });
}

// ---- synthesis planes: (c, h, w) with one row above and below, one column left and
// VL + 1 right, so that a vector load at any column in -1 .. w stays inside ----

struct Plane {
  int c, h, w;
  int64_t stride;
  std::unique_ptr<float[]> data;
  Plane(int c_, int h_, int w_)
      : c(c_), h(h_), w(w_), stride(w_ + 2 + VL), data(new float[(size_t)c_ * (h_ + 2) * (w_ + 2 + VL)]()) {}
  float* row(int ch, int r) { return data.get() + ((int64_t)ch * (h + 2) + r + 1) * stride + 1; }
  const float* row(int ch, int r) const { return data.get() + ((int64_t)ch * (h + 2) + r + 1) * stride + 1; }
};

// Replicate padding of the one-sample border.
void fill_border(Plane& p) {
  for (int ch = 0; ch < p.c; ++ch) {
    for (int r = 0; r < p.h; ++r) {
      float* row = p.row(ch, r);
      row[-1] = row[0];
      row[p.w] = row[p.w - 1];
    }
    std::copy(p.row(ch, 0) - 1, p.row(ch, 0) + p.w + 1, p.row(ch, -1) - 1);
    std::copy(p.row(ch, p.h - 1) - 1, p.row(ch, p.h - 1) + p.w + 1, p.row(ch, p.h) - 1);
  }
}

// One layer: weights (out, in, k, k) with k = 1 or 3, bias, flags.
struct Layer {
  int n_in, n_out, kernel;
  bool residual, relu;
  std::vector<float> W, b;
};

inline vfloat finish(const Layer& L, vfloat acc, vfloat input) {
  if (L.residual) acc += input;
  return L.relu ? relu(acc) : acc;
}

// The layers of `run` on one block of VL pixels: a holds the inputs, then the outputs.
__attribute__((optimize("fp-contract=fast"))) void pointwise_block(const std::vector<Layer>& run, vfloat* a,
                                                                   vfloat* z) {
  for (const Layer& L : run) {
    for (int o = 0; o < L.n_out; ++o) {
      const float* wo = L.W.data() + (size_t)o * L.n_in;
      vfloat acc = splat(L.b[o]);
      for (int i = 0; i < L.n_in; ++i) acc += wo[i] * a[i];
      z[o] = finish(L, acc, L.residual ? a[o] : vfloat{});
    }
    std::copy(z, z + L.n_out, a);
  }
}

// A run of 1x1 layers, per block of VL pixels of a row; the input one pointer per channel
// and row (`at(ch, r)`), the output into the plane `out`.
template <class Input>
void pointwise_run(const std::vector<Layer>& run,
                                                                 Input at, int n_in, Plane& out) {
  const int h = out.h, w = out.w;
  at::parallel_for(0, h, 4, [&](int64_t begin, int64_t end) {
    vfloat a[MAX_CHANNELS], z[MAX_CHANNELS];
    for (int64_t r = begin; r < end; ++r)
      for (int c0 = 0; c0 < w; c0 += VL) {
        const int valid = std::min(VL, w - c0);
        for (int ch = 0; ch < n_in; ++ch) a[ch] = load_n(at(ch, (int)r) + c0, valid);
        pointwise_block(run, a, z);
        for (int o = 0; o < out.c; ++o) store_n(out.row(o, (int)r) + c0, a[o], valid);
      }
  });
  fill_border(out);
}

// One 3x3 layer from the plane x (border replicated) into out; CI, CO > 0: channel
// counts known at compile time.
template <int CI, int CO>
__attribute__((optimize("fp-contract=fast"))) void conv3x3_rows(const Layer& L, const Plane& x, Plane& out,
                                                                int64_t r0, int64_t r1) {
  const int ci = CI ? CI : L.n_in, co = CO ? CO : L.n_out;
  vfloat acc[CO ? CO : MAX_CHANNELS];
  for (int64_t r = r0; r < r1; ++r)
    for (int c0 = 0; c0 < x.w; c0 += VL) {
      for (int o = 0; o < co; ++o) acc[o] = splat(L.b[o]);
      for (int i = 0; i < ci; ++i)
        for (int dy = -1; dy <= 1; ++dy) {
          const float* src = x.row(i, (int)r + dy) + c0;
          for (int dx = -1; dx <= 1; ++dx) {
            const vfloat v = load_n(src + dx, VL);
            for (int o = 0; o < co; ++o) acc[o] += L.W[((o * ci + i) * 3 + dy + 1) * 3 + dx + 1] * v;
          }
        }
      const int valid = std::min(VL, x.w - c0);
      for (int o = 0; o < co; ++o) {
        const vfloat input = L.residual ? load_n(x.row(o, (int)r) + c0, VL) : vfloat{};
        store_n(out.row(o, (int)r) + c0, finish(L, acc[o], input), valid);
      }
    }
}

void conv3x3(const Layer& L, const Plane& x, Plane& out) {
  at::parallel_for(0, x.h, 4, [&](int64_t r0, int64_t r1) {
    if (L.n_in == 3 && L.n_out == 3) conv3x3_rows<3, 3>(L, x, out, r0, r1);
    else conv3x3_rows<0, 0>(L, x, out, r0, r1);
  });
  fill_border(out);
}

std::vector<Layer> describe(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
                            const std::vector<bool>& residual, const std::vector<bool>& relu, int n_in) {
  TORCH_CHECK(!weights.empty() && weights.size() == biases.size() && weights.size() == residual.size() &&
                  weights.size() == relu.size(), "one weight, bias, residual and ReLU flag per layer");
  TORCH_CHECK(n_in >= 1 && n_in <= MAX_CHANNELS, "1 to 64 synthesis input channels");
  std::vector<Layer> layers;
  for (size_t l = 0; l < weights.size(); ++l) {
    auto w = weights[l].to(torch::kFloat32).contiguous();
    auto b = biases[l].to(torch::kFloat32).contiguous();
    TORCH_CHECK(w.dim() == 4 && w.size(1) == n_in && w.size(2) == w.size(3) && (w.size(2) == 1 || w.size(2) == 3),
                "synthesis layer ", l, ": weight shape");
    const int n_out = (int)w.size(0);
    TORCH_CHECK(n_out >= 1 && n_out <= MAX_CHANNELS && b.numel() == n_out, "synthesis layer ", l, ": size");
    TORCH_CHECK(!residual[l] || n_out == n_in, "synthesis layer ", l, ": a residual layer keeps its width");
    layers.push_back({n_in, n_out, (int)w.size(2), residual[l], relu[l],
                      std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()),
                      std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + b.numel())});
    n_in = n_out;
  }
  return layers;
}

}  // namespace v2dec

// The v2 upsampling cascade of the grids Y (h_i, w_i) with half taps (N - 1, 4) to the
// synthesis input (N, H, W): U = Y_{N-1}; U = concat(Y_i, cols(rows(U))) for i = N-2 .. 0.
torch::Tensor learned_upsample_cascade(std::vector<torch::Tensor> grids, torch::Tensor half_taps) {
  const int N = (int)grids.size();
  auto taps = half_taps.to(torch::kFloat32).contiguous();
  TORCH_CHECK(N >= 1 && taps.dim() == 2 && taps.size(0) == N - 1 && taps.size(1) == 4, "half taps shape");
  for (int i = 0; i < N; ++i) {
    grids[i] = grids[i].to(torch::kFloat32).contiguous();
    TORCH_CHECK(grids[i].dim() == 2 && grids[i].size(0) > 0 && grids[i].size(1) > 0, "latent grid shape");
    TORCH_CHECK(i == 0 || (grids[i].size(0) * 2 >= grids[i - 1].size(0) && grids[i].size(1) * 2 >= grids[i - 1].size(1)),
                "each grid at least half the size of the previous one");
  }
  torch::Tensor U = grids[N - 1].unsqueeze(0);
  for (int i = N - 2; i >= 0; --i) {
    const int H = (int)grids[i].size(0), W = (int)grids[i].size(1);
    const int h = (int)U.size(1), w = (int)U.size(2), c = (int)U.size(0);
    const v2dec::Taps t(taps.data_ptr<float>() + 4 * i);
    auto rows = torch::empty({c, H, w}, torch::kFloat32);
    auto next = torch::empty({c + 1, H, W}, torch::kFloat32);
    v2dec::upsample_rows(U.data_ptr<float>(), rows.data_ptr<float>(), c, h, w, H, t);
    next[0].copy_(grids[i]);
    v2dec::upsample_cols(rows.data_ptr<float>(), next.data_ptr<float>() + (int64_t)H * W, (int64_t)c * H, w, W, t);
    U = next;
  }
  return U;
}

// The v2 synthesis of features (C, H, W): layers of weights (out, in, k, k), k = 1 or 3
// (replicate padding), plus their input where `residual`, then ReLU where `relu`; the
// image (H, W, 3 or the last width) clamped to [0, 1].
torch::Tensor conv_synthesize(torch::Tensor features, std::vector<torch::Tensor> weights,
                              std::vector<torch::Tensor> biases, std::vector<bool> residual,
                              std::vector<bool> relu) {
  auto F = features.to(torch::kFloat32).contiguous();
  TORCH_CHECK(F.dim() == 3 && F.size(1) > 0 && F.size(2) > 0, "features (C, H, W)");
  const int C = (int)F.size(0), H = (int)F.size(1), W = (int)F.size(2);
  const auto layers = v2dec::describe(weights, biases, residual, relu, C);
  const float* f = F.data_ptr<float>();
  std::unique_ptr<v2dec::Plane> x;  // the current activations (null: still the features)
  for (size_t l = 0; l < layers.size();) {
    size_t end = l;
    while (end < layers.size() && layers[end].kernel == 1) ++end;
    if (end > l) {  // a run of 1x1 layers, fused per pixel
      const std::vector<v2dec::Layer> run(layers.begin() + l, layers.begin() + end);
      auto out = std::make_unique<v2dec::Plane>(run.back().n_out, H, W);
      if (x) {
        const v2dec::Plane& in = *x;
        v2dec::pointwise_run(run, [&](int ch, int r) { return in.row(ch, r); }, in.c, *out);
      } else {
        v2dec::pointwise_run(run, [&](int ch, int r) { return f + ((int64_t)ch * H + r) * W; }, C, *out);
      }
      x = std::move(out);
      l = end;
      continue;
    }
    if (!x) {  // a 3x3 first layer: the features into a padded plane
      x = std::make_unique<v2dec::Plane>(C, H, W);
      for (int ch = 0; ch < C; ++ch)
        for (int r = 0; r < H; ++r) std::copy(f + ((int64_t)ch * H + r) * W, f + ((int64_t)ch * H + r + 1) * W, x->row(ch, r));
      v2dec::fill_border(*x);
    }
    auto out = std::make_unique<v2dec::Plane>(layers[l].n_out, H, W);
    v2dec::conv3x3(layers[l], *x, *out);
    x = std::move(out);
    ++l;
  }
  const int n_out = x->c;
  auto image = torch::empty({H, W, n_out}, torch::kFloat32);
  float* img = image.data_ptr<float>();
  at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int o = 0; o < n_out; ++o) {
        const float* src = x->row(o, (int)r);
        for (int col = 0; col < W; ++col) img[(r * W + col) * n_out + o] = std::min(std::max(src[col], 0.0f), 1.0f);
      }
  });
  return image;
}
