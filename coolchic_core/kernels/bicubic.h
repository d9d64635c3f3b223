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

// The rows [lo, hi) of a Sparse that are one fixed filter: row r = P q + p reads the K
// inputs STEP q + first[p] + k with the weights w[p][k] of its phase p. The x2 bicubic
// matrix is one with P = 2, K = 4, STEP = 1 away from the borders; its transpose one with
// P = 1, K = 8, STEP = 2. Empty (lo == hi) when the matrix has no such rows.
template <int P, int K, int STEP>
struct Band {
  int lo = 0, hi = 0;  // rows, multiples of P
  int first[P] = {};
  float w[P][K] = {};
};

template <int P, int K, int STEP>
bool band_row_matches(const Sparse& M, const Band<P, K, STEP>& b, int r) {
  const int p = r % P, start = STEP * (r / P) + b.first[p];
  if (M.ptr[r + 1] - M.ptr[r] != K) return false;
  for (int k = 0; k < K; ++k)
    if (M.idx[M.ptr[r] + k] != start + k || M.val[M.ptr[r] + k] != b.w[p][k]) return false;
  return true;
}

// The widest band around the middle row of M (its filter read from the middle rows).
template <int P, int K, int STEP>
Band<P, K, STEP> find_band(const Sparse& M) {
  Band<P, K, STEP> b;
  const int mid = (M.n_out / (2 * P)) * P;
  if (mid + P > M.n_out) return b;
  for (int p = 0; p < P; ++p) {
    const int r = mid + p;
    if (M.ptr[r + 1] - M.ptr[r] != K) return b;
    b.first[p] = M.idx[M.ptr[r]] - STEP * (mid / P);
    for (int k = 0; k < K; ++k) b.w[p][k] = M.val[M.ptr[r] + k];
  }
  auto group_matches = [&](int q) {
    for (int p = 0; p < P; ++p)
      if (!band_row_matches(M, b, P * q + p)) return false;
    return true;
  };
  int q_lo = mid / P, q_hi = mid / P;
  while (q_hi < M.n_out / P && group_matches(q_hi)) ++q_hi;
  while (q_lo > 0 && group_matches(q_lo - 1)) --q_lo;
  b.lo = P * q_lo;
  b.hi = P * q_hi;
  return b;
}

// a * b + c as a -ffast-math build on a CPU with FMA contracts `c += a * b` (one
// rounding), else with two roundings; an explicit std::fma cannot be reordered, so a
// fixed-length sum of them keeps the order of a loop over k. Without -ffast-math (the
// decoder's build) the plain expression is exact IEEE arithmetic in the written order.
inline float multiply_add(float a, float b, float c) {
#if defined(__FMA__) && defined(__FAST_MATH__)
  return std::fma(a, b, c);
#else
  return c + a * b;
#endif
}

// out[x] = sum_k M.val[k] in[M.idx[k]] for x in [x0, x1), the terms added in M's order.
inline void sparse_row(const Sparse& M, const float* in, float* out, int x0, int x1) {
  for (int x = x0; x < x1; ++x) {
    float acc = 0.0f;
    for (int k = M.ptr[x]; k < M.ptr[x + 1]; ++k) acc += M.val[k] * in[M.idx[k]];
    out[x] = acc;
  }
}

// The band's rows of one line: the same terms in the same order as sparse_row (so the
// same floats), with fixed indices the compiler vectorizes over q.
template <int P, int K, int STEP>
void band_row(const Band<P, K, STEP>& b, const float* in, float* out) {
  for (int q = b.lo / P; q < b.hi / P; ++q)
    for (int p = 0; p < P; ++p) {
      const float* src = in + STEP * q + b.first[p];
      float acc = 0.0f;
      for (int k = 0; k < K; ++k) acc = multiply_add(b.w[p][k], src[k], acc);
      out[P * q + p] = acc;
    }
}

// dst[c][r][x] = sum_k M.val[k] src[c][r][M.idx[k]]   (columns mixed, rows kept); the rows
// of M in `band` by band_row, the others by sparse_row.
template <int P, int K, int STEP>
void apply_cols(const Sparse& M, const Band<P, K, STEP>& band, const float* src, float* dst,
                int64_t rows) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max(M.n_out, 1));
  at::parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* in = src + r * M.n_in;
      float* out = dst + r * M.n_out;
      sparse_row(M, in, out, 0, band.lo);
      band_row(band, in, out);
      sparse_row(M, in, out, band.hi, M.n_out);
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
    apply_cols(mh, find_band<2, 4, 1>(mh), U.data_ptr<float>(), tmp.data_ptr<float>(), (int64_t)c * h);
    apply_rows(mv, tmp.data_ptr<float>(), next.data_ptr<float>() + (int64_t)H * W, c, W);
    next[0].copy_(Y[i]);
    U = next;
  }
  return U;
}
