// Cascaded bicubic upsampling (PyTorch's bicubic, align_corners=False, border taps clamped),
// shared by the training kernels (fused_training.cpp) and the decoder (reconstruction.cpp).
#pragma once

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

// ---- cascaded bicubic upsampling (PyTorch's bicubic, align_corners=False) ----

namespace {

// A 1-D linear map as compressed rows: out[r] = sum_k val[k] * in[idx[k]].
struct Sparse {
  int n_out = 0, n_in = 0;
  std::vector<int> ptr, idx;
  std::vector<float> val;
};

inline float cubic1(float x, float A) { return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f; }
inline float cubic2(float x, float A) { return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A; }

// Bicubic interpolation from n_in to n_out samples, as torch computes its taps.
Sparse bicubic_matrix(int n_in, int n_out) {
  Sparse m;
  m.n_out = n_out; m.n_in = n_in;
  m.ptr.push_back(0);
  const float scale = (float)n_in / (float)n_out;
  const float A = -0.75f;
  for (int o = 0; o < n_out; ++o) {
    const float real = scale * ((float)o + 0.5f) - 0.5f;
    const float fl = std::floor(real);
    const float t = real - fl;
    const float w[4] = {cubic2(t + 1.0f, A), cubic1(t, A), cubic1(1.0f - t, A), cubic2(2.0f - t, A)};
    float acc[4] = {0, 0, 0, 0};
    int at[4];
    int n = 0;
    for (int k = 0; k < 4; ++k) {
      const int i = std::min(std::max((int)fl - 1 + k, 0), n_in - 1);
      int j = 0;
      while (j < n && at[j] != i) ++j;
      if (j == n) { at[n] = i; acc[n] = 0.0f; ++n; }
      acc[j] += w[k];
    }
    for (int j = 0; j < n; ++j) { m.idx.push_back(at[j]); m.val.push_back(acc[j]); }
    m.ptr.push_back((int)m.idx.size());
  }
  return m;
}

Sparse transpose(const Sparse& m) {
  Sparse t;
  t.n_out = m.n_in; t.n_in = m.n_out;
  std::vector<std::vector<std::pair<int, float>>> rows(m.n_in);
  for (int o = 0; o < m.n_out; ++o)
    for (int k = m.ptr[o]; k < m.ptr[o + 1]; ++k) rows[m.idx[k]].push_back({o, m.val[k]});
  t.ptr.push_back(0);
  for (const auto& row : rows) {
    for (const auto& e : row) { t.idx.push_back(e.first); t.val.push_back(e.second); }
    t.ptr.push_back((int)t.idx.size());
  }
  return t;
}

// dst[c][r][:] = sum_k M.val[k] src[c][M.idx[k]][:]   (rows mixed, columns kept)
void apply_rows(const Sparse& M, const float* src, float* dst, int channels, int cols) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max(cols, 1));
  at::parallel_for(0, (int64_t)channels * M.n_out, grain, [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      const int64_t c = job / M.n_out, r = job % M.n_out;
      float* out = dst + (c * M.n_out + r) * cols;
      std::fill(out, out + cols, 0.0f);
      for (int k = M.ptr[r]; k < M.ptr[r + 1]; ++k) {
        const float* in = src + (c * M.n_in + M.idx[k]) * (int64_t)cols;
        const float w = M.val[k];
        for (int x = 0; x < cols; ++x) out[x] += w * in[x];
      }
    }
  });
}

// dst[c][r][x] = sum_k M.val[k] src[c][r][M.idx[k]]   (columns mixed, rows kept)
void apply_cols(const Sparse& M, const float* src, float* dst, int64_t rows) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max(M.n_out, 1));
  at::parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* in = src + r * M.n_in;
      float* out = dst + r * M.n_out;
      for (int x = 0; x < M.n_out; ++x) {
        float acc = 0.0f;
        for (int k = M.ptr[x]; k < M.ptr[x + 1]; ++k) acc += M.val[k] * in[M.idx[k]];
        out[x] = acc;
      }
    }
  });
}

}  // namespace

// Grids y_0..y_{N-1} (each (h_i, w_i)) to (N, H, W): U = y_{N-1}; for i = N-2..0:
// U = concat(y_i, bicubic(U, size of y_i)).
inline torch::Tensor upsample_cascade(std::vector<torch::Tensor> Y) {
  const int N = (int)Y.size();
  torch::Tensor U = Y[N - 1].unsqueeze(0).contiguous();
  for (int i = N - 2; i >= 0; --i) {
    const int c = (int)U.size(0), h = (int)U.size(1), w = (int)U.size(2);
    const int H = (int)Y[i].size(0), W = (int)Y[i].size(1);
    const Sparse mh = bicubic_matrix(w, W), mv = bicubic_matrix(h, H);
    auto tmp = torch::empty({c, h, W}, U.options());
    auto next = torch::empty({c + 1, H, W}, U.options());
    apply_cols(mh, U.data_ptr<float>(), tmp.data_ptr<float>(), (int64_t)c * h);
    apply_rows(mv, tmp.data_ptr<float>(), next.data_ptr<float>() + (int64_t)H * W, c, W);
    next[0].copy_(Y[i]);
    U = next;
  }
  return U;
}
