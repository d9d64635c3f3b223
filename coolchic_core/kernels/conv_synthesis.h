// v2 training kernels (coolchic_core/formats/v2): the learned 8-tap upsampling cascade
// (forward, and backward to the grids and the half taps), and the convolutional synthesis
// (a 1x1 MLP, then 3x3 convolutions with replicate padding) with its MSE, forward and
// backward in one call. They compute what formats/v2/layers.py computes.
//
// Included by fused_training.cpp after its MLP helpers (vfloat, Mlp, forward, backward, Part,
// reduce_grads, n_parts). Work is split into one contiguous range of rows per torch thread;
// partial sums are added in a fixed order, so results are deterministic for a thread count.

#include <memory>

namespace v2 {

inline int clampi(int x, int lo, int hi) { return x < lo ? lo : (x > hi ? hi : x); }

// n (<= VL) floats from p, the other lanes 0.
inline vfloat load_n(const float* p, int n) {
  if (n == VL) return loadu(p);
  vfloat r{};
  for (int v = 0; v < n; ++v) r[v] = p[v];
  return r;
}

inline void store_n(float* p, vfloat x, int n) {
  if (n == VL) return storeu(p, x);
  for (int v = 0; v < n; ++v) p[v] = x[v];
}

// The 8 taps of one level from its 4 centre-outwards half taps: k[3 - a] = k[4 + a] = h[a].
struct Taps {
  float k[8];
  explicit Taps(const float* half) {
    for (int a = 0; a < 4; ++a) k[3 - a] = k[4 + a] = half[a];
  }
};

// Output q of a x2 upsampling of n samples reads x[clamp(q / 2 + m + q % 2 - 2)] with tap
// k[2m + q % 2], m = 0..3 (layers._upsample_last_axis).
inline int source(int q, int m, int n) { return clampi(q / 2 + m + q % 2 - 2, 0, n - 1); }

// dk (8 sums) to the gradient of the 4 half taps, added to dhalf.
inline void add_half_grads(const double* dk, float* dhalf) {
  for (int a = 0; a < 4; ++a) dhalf[a] += (float)(dk[3 - a] + dk[4 + a]);
}

// Rows: x (c, n, w) to out (c, size, w).
void rows_forward(const float* x, float* out, int c, int n, int w, int size, const Taps& t) {
  for (int ch = 0; ch < c; ++ch)
    for (int q = 0; q < size; ++q) {
      const float* s[4];
      float k[4];
      for (int m = 0; m < 4; ++m) {
        s[m] = x + ((size_t)ch * n + source(q, m, n)) * w;
        k[m] = t.k[2 * m + q % 2];
      }
      float* o = out + ((size_t)ch * size + q) * w;
      for (int col = 0; col < w; ++col)
        o[col] = k[0] * s[0][col] + k[1] * s[1][col] + k[2] * s[2][col] + k[3] * s[3][col];
    }
}

// Its backward: g (c, size, w) to gx (c, n, w), tap gradients added to dk.
void rows_backward(const float* g, const float* x, float* gx, int c, int n, int w, int size,
                   const Taps& t, double* dk) {
  std::fill(gx, gx + (size_t)c * n * w, 0.0f);
  for (int ch = 0; ch < c; ++ch)
    for (int q = 0; q < size; ++q) {
      const float* gr = g + ((size_t)ch * size + q) * w;
      for (int m = 0; m < 4; ++m) {
        const size_t row = ((size_t)ch * n + source(q, m, n)) * w;
        const float k = t.k[2 * m + q % 2];
        float dot = 0.0f;
        for (int col = 0; col < w; ++col) {
          gx[row + col] += k * gr[col];
          dot += gr[col] * x[row + col];
        }
        dk[2 * m + q % 2] += dot;
      }
    }
}

// out[2j] = even[j], out[2j + 1] = odd[j], for the first `size` outputs.
inline void interleave(const float* even, const float* odd, float* out, int size) {
  int j0 = 0;
  for (; 2 * j0 + 2 * VL <= size; j0 += VL) {
    const vfloat e = loadu(even + j0), o = loadu(odd + j0);
    storeu(out + 2 * j0, __builtin_shufflevector(e, o, COOLCHIC_INTERLEAVE_LOW));
    storeu(out + 2 * j0 + VL, __builtin_shufflevector(e, o, COOLCHIC_INTERLEAVE_HIGH));
  }
  for (int q = 2 * j0; q < size; ++q) out[q] = q % 2 ? odd[q / 2] : even[q / 2];
}

// Its adjoint: even[j] = g[2j], odd[j] = g[2j + 1] for j < n, 0 past `size`.
inline void deinterleave(const float* g, int size, float* even, float* odd, int n) {
  int j0 = 0;
  for (; 2 * j0 + 2 * VL <= size; j0 += VL) {
    const vfloat a = loadu(g + 2 * j0), b = loadu(g + 2 * j0 + VL);
    storeu(even + j0, __builtin_shufflevector(a, b, COOLCHIC_EVEN_LANES));
    storeu(odd + j0, __builtin_shufflevector(a, b, COOLCHIC_ODD_LANES));
  }
  for (int j = j0; j < n; ++j) {
    even[j] = 2 * j < size ? g[2 * j] : 0.0f;
    odd[j] = 2 * j + 1 < size ? g[2 * j + 1] : 0.0f;
  }
}

// Columns: each of n_rows rows of n samples to size samples. even/odd: scratch of n floats,
// padded: of n + 4 (the row with its end samples repeated twice).
void cols_forward(const float* x, float* out, int64_t n_rows, int n, int size, const Taps& t) {
  std::vector<float> padded(n + 4), even(n), odd(n);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * n;
    padded[0] = padded[1] = row[0];
    std::copy(row, row + n, padded.begin() + 2);
    padded[n + 2] = padded[n + 3] = row[n - 1];
    const float* p = padded.data();
    for (int j = 0; j < n; ++j) {
      even[j] = t.k[0] * p[j] + t.k[2] * p[j + 1] + t.k[4] * p[j + 2] + t.k[6] * p[j + 3];
      odd[j] = t.k[1] * p[j + 1] + t.k[3] * p[j + 2] + t.k[5] * p[j + 3] + t.k[7] * p[j + 4];
    }
    interleave(even.data(), odd.data(), out + r * size, size);
  }
}

// Its backward: g (n_rows, size) to gx (n_rows, n), tap gradients added to dk.
void cols_backward(const float* g, const float* x, float* gx, int64_t n_rows, int n, int size,
                   const Taps& t, double* dk) {
  std::vector<float> padded(n + 4), gpad(n + 4), ge(n), go(n);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * n;
    const float* gr = g + r * size;
    padded[0] = padded[1] = row[0];
    std::copy(row, row + n, padded.begin() + 2);
    padded[n + 2] = padded[n + 3] = row[n - 1];
    deinterleave(gr, size, ge.data(), go.data(), n);
    std::fill(gpad.begin(), gpad.end(), 0.0f);
    for (int m = 0; m < 4; ++m) {
      const float ke = t.k[2 * m], ko = t.k[2 * m + 1];
      float de = 0.0f, dodd = 0.0f;
      for (int j = 0; j < n; ++j) {
        gpad[j + m] += ke * ge[j];
        de += ge[j] * padded[j + m];
      }
      for (int j = 0; j < n; ++j) {
        gpad[j + m + 1] += ko * go[j];
        dodd += go[j] * padded[j + m + 1];
      }
      dk[2 * m] += de;
      dk[2 * m + 1] += dodd;
    }
    float* out = gx + r * n;
    for (int j = 0; j < n; ++j) out[j] = gpad[j + 2];
    out[0] += gpad[0] + gpad[1];
    out[n - 1] += gpad[n + 2] + gpad[n + 3];
  }
}

}  // namespace v2

// Learned upsampling cascade of the grids Y (h_i, w_i) with half taps (N - 1, 4):
// U_{N-1} = Y_{N-1}; U_i = concat(Y_i, cols(rows(U_{i+1}))), returned as
// [U_0 (N, H, W), U_1 .. U_{N-1}, R_0 .. R_{N-2}], R_i = rows(U_{i+1}) (what the backward reads).
std::vector<torch::Tensor> learned_upsample(std::vector<torch::Tensor> Y, torch::Tensor half_taps) {
  const int N = (int)Y.size();
  TORCH_CHECK(N >= 1 && half_taps.size(0) == N - 1 && half_taps.size(1) == 4, "half taps shape");
  std::vector<torch::Tensor> U(N), R(std::max(N - 1, 0));
  U[N - 1] = Y[N - 1].unsqueeze(0).contiguous();
  const float* taps = half_taps.data_ptr<float>();
  for (int i = N - 2; i >= 0; --i) {
    const int H = (int)Y[i].size(0), W = (int)Y[i].size(1);
    const int h = (int)Y[i + 1].size(0), w = (int)Y[i + 1].size(1);
    const int c = N - 1 - i;
    const v2::Taps t(taps + 4 * i);
    R[i] = torch::empty({c, H, w}, Y[i].options());
    U[i] = torch::empty({c + 1, H, W}, Y[i].options());
    v2::rows_forward(U[i + 1].data_ptr<float>(), R[i].data_ptr<float>(), c, h, w, H, t);
    U[i][0].copy_(Y[i]);
    v2::cols_forward(R[i].data_ptr<float>(), U[i].data_ptr<float>() + (int64_t)H * W,
                     (int64_t)c * H, w, W, t);
  }
  std::vector<torch::Tensor> out(U);
  out.insert(out.end(), R.begin(), R.end());
  return out;
}

// Gradient of learned_upsample: dU0 (N, H, W) and what the forward returned after U_0
// (U_1 .., R_0 ..) to [dY_0 .., d half_taps (N - 1, 4)].
std::vector<torch::Tensor> learned_upsample_backward(torch::Tensor dU0, std::vector<torch::Tensor> U,
                                                     std::vector<torch::Tensor> R,
                                                     torch::Tensor half_taps) {
  const int N = (int)R.size() + 1;
  std::vector<torch::Tensor> grads(N);
  auto dtaps = torch::zeros({std::max(N - 1, 0), 4}, dU0.options());
  const float* taps = half_taps.data_ptr<float>();
  torch::Tensor G = dU0.contiguous();
  for (int i = 0; i < N - 1; ++i) {
    const int H = (int)G.size(1), W = (int)G.size(2);
    const int h = (int)U[i].size(1), w = (int)U[i].size(2);
    const int c = N - 1 - i;
    const v2::Taps t(taps + 4 * i);
    double dk[8] = {0};
    grads[i] = G[0].clone();
    auto dR = torch::empty({c, H, w}, G.options());
    auto prev = torch::empty({c, h, w}, G.options());
    v2::cols_backward(G.data_ptr<float>() + (int64_t)H * W, R[i].data_ptr<float>(),
                      dR.data_ptr<float>(), (int64_t)c * H, w, W, t, dk);
    v2::rows_backward(dR.data_ptr<float>(), U[i].data_ptr<float>(), prev.data_ptr<float>(), c, h,
                      w, H, t, dk);
    v2::add_half_grads(dk, dtaps.data_ptr<float>() + 4 * i);
    G = prev;
  }
  grads[N - 1] = G[0].clone();
  grads.push_back(dtaps);
  return grads;
}

namespace v2 {

// A (c, h, w) plane stored with `pad` rows above and below and `pad` columns left, and
// pad + VL right (so that a vector load at any column < w + pad stays inside). Only the
// border is zeroed at first: every user writes the whole interior.
struct Plane {
  int c = 0, h = 0, w = 0, pad = 0, stride = 0;
  std::unique_ptr<float[]> data;
  Plane(int c_, int h_, int w_, int pad_)
      : c(c_), h(h_), w(w_), pad(pad_), stride(w_ + 2 * pad_ + VL),
        data(new float[(size_t)c_ * (h_ + 2 * pad_) * (w_ + 2 * pad_ + VL)]) {
    for (int ch = 0; ch < c; ++ch) {
      for (int r = -pad; r < h + pad; ++r) {
        float* line = row(ch, r) - pad;
        if (r < 0 || r >= h) {
          std::fill(line, line + stride, 0.0f);
        } else {
          std::fill(line, line + pad, 0.0f);
          std::fill(line + pad + w, line + stride, 0.0f);
        }
      }
    }
  }
  float* row(int ch, int r) { return data.get() + ((size_t)ch * (h + 2 * pad) + r + pad) * stride + pad; }
  const float* row(int ch, int r) const {
    return data.get() + ((size_t)ch * (h + 2 * pad) + r + pad) * stride + pad;
  }
};

// Replicate padding: the border of every channel from its edge samples.
void fill_border(Plane& p) {
  for (int ch = 0; ch < p.c; ++ch) {
    for (int r = 0; r < p.h; ++r) {
      float* row = p.row(ch, r);
      for (int k = 1; k <= p.pad; ++k) {
        row[-k] = row[0];
        row[p.w - 1 + k] = row[p.w - 1];
      }
    }
    for (int k = 1; k <= p.pad; ++k) {
      std::copy(p.row(ch, 0) - p.pad, p.row(ch, 0) - p.pad + p.stride, p.row(ch, -k) - p.pad);
      std::copy(p.row(ch, p.h - 1) - p.pad, p.row(ch, p.h - 1) - p.pad + p.stride,
                p.row(ch, p.h - 1 + k) - p.pad);
    }
  }
}

// One 3x3 layer: weights (out, in, 3, 3), bias, residual, ReLU.
struct Conv {
  int n_in, n_out;
  const float* K;
  const float* b;
  bool residual, relu;
  float tap(int o, int i, int dy, int dx) const { return K[((o * n_in + i) * 3 + dy + 1) * 3 + dx + 1]; }
};

// Parallel over nt contiguous ranges of rows [lo, hi): fn(part, r0, r1).
template <class Fn>
void over_rows(int nt, int lo, int hi, Fn fn) {
  at::parallel_for(0, nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      fn((int)t, lo + (int)((int64_t)(hi - lo) * t / nt), lo + (int)((int64_t)(hi - lo) * (t + 1) / nt));
  });
}

// Channel counts compiled in (CI, CO > 0: accumulators in registers) or read from L (0).
constexpr int MAX_CHANNELS = 64;  // the v2 header's limit

template <int CI, int CO>
void conv_forward_rows(const Conv& L, const Plane& x, Plane& out, int r0, int r1) {
  const int ci = CI ? CI : L.n_in, co = CO ? CO : L.n_out;
  vfloat acc[CO ? CO : MAX_CHANNELS];
  for (int r = r0; r < r1; ++r)
    for (int c0 = 0; c0 < x.w; c0 += VL) {
      for (int o = 0; o < co; ++o)
        acc[o] = L.residual ? splat(L.b[o]) + loadu(x.row(o, r) + c0) : splat(L.b[o]);
      for (int i = 0; i < ci; ++i)
        for (int dy = -1; dy <= 1; ++dy) {
          const float* src = x.row(i, r + dy) + c0;
          for (int dx = -1; dx <= 1; ++dx) {
            const vfloat v = loadu(src + dx);
            for (int o = 0; o < co; ++o) acc[o] += L.tap(o, i, dy, dx) * v;
          }
        }
      const int valid = std::min(VL, x.w - c0);
      for (int o = 0; o < co; ++o) store_n(out.row(o, r) + c0, L.relu ? relu(acc[o]) : acc[o], valid);
    }
}

// Gradient of the padded input, rows r0..r1 - 1 (within -1..h), columns -1..w: a gather
// over g (pad 2, zero border).
template <int CI, int CO>
void conv_input_grad_rows(const Conv& L, const Plane& g, Plane& gpad, int r0, int r1) {
  const int ci = CI ? CI : L.n_in, co = CO ? CO : L.n_out;
  vfloat acc[CI ? CI : MAX_CHANNELS];
  for (int r = r0; r < r1; ++r)
    for (int c0 = -1; c0 <= g.w; c0 += VL) {
      for (int i = 0; i < ci; ++i) acc[i] = vfloat{};
      for (int o = 0; o < co; ++o)
        for (int dy = -1; dy <= 1; ++dy) {
          const float* src = g.row(o, r - dy) + c0;
          for (int dx = -1; dx <= 1; ++dx) {
            const vfloat v = loadu(src - dx);
            for (int i = 0; i < ci; ++i) acc[i] += L.tap(o, i, dy, dx) * v;
          }
        }
      const int valid = std::min(VL, g.w + 1 - c0);
      for (int i = 0; i < ci; ++i) store_n(gpad.row(i, r) + c0, acc[i], valid);
    }
}

// y = act(conv(x) + b [+ x]) on the interior of out; its border replicated.
void conv_forward(const Conv& L, const Plane& x, Plane& out, int nt) {
  over_rows(nt, 0, x.h, [&](int, int r0, int r1) {
    if (L.n_in == 3 && L.n_out == 3) conv_forward_rows<3, 3>(L, x, out, r0, r1);
    else conv_forward_rows<0, 0>(L, x, out, r0, r1);
  });
  fill_border(out);
}

// Per part: weight and bias gradients of one 3x3 layer.
struct ConvGrads {
  std::vector<vfloat> dK, db;
  explicit ConvGrads(const Conv& L) : dK((size_t)L.n_out * L.n_in * 9, vfloat{}), db(L.n_out, vfloat{}) {}
};

constexpr int ROW_TILE = 8;  // rows whose planes stay in cache while every (out, in) pair reads them

// Weight and bias gradients from rows r0..r1 - 1 of g (the pre-activation gradient) and x.
void conv_weight_grads(const Conv& L, const Plane& x, const Plane& g, int r0, int r1, ConvGrads& pg) {
  for (int t0 = r0; t0 < r1; t0 += ROW_TILE) {
    const int t1 = std::min(r1, t0 + ROW_TILE);
    for (int o = 0; o < L.n_out; ++o) {
      vfloat db{};
      for (int r = t0; r < t1; ++r)
        for (int c0 = 0; c0 < g.w; c0 += VL) db += loadu(g.row(o, r) + c0);
      pg.db[o] += db;
      for (int i = 0; i < L.n_in; ++i) {
        vfloat acc[9] = {};
        for (int r = t0; r < t1; ++r)
          for (int c0 = 0; c0 < g.w; c0 += VL) {
            const vfloat go = loadu(g.row(o, r) + c0);
            for (int dy = -1; dy <= 1; ++dy) {
              const float* src = x.row(i, r + dy) + c0;
              for (int dx = -1; dx <= 1; ++dx) acc[(dy + 1) * 3 + dx + 1] += go * loadu(src + dx);
            }
          }
        vfloat* dk = &pg.dK[(size_t)(o * L.n_in + i) * 9];
        for (int k = 0; k < 9; ++k) dk[k] += acc[k];
      }
    }
  }
}

// Backward of one 3x3 layer. g: gradient of its output (pad 2, zero border), masked in place
// by the ReLU (out: the layer's output); gx: gradient of its input (pad 2, zero border).
void conv_backward(const Conv& L, const Plane& x, const Plane& out, Plane& g, Plane& gx,
                   std::vector<ConvGrads>& parts, int nt) {
  const int h = x.h, w = x.w;
  over_rows(nt, 0, h, [&](int t, int r0, int r1) {
    if (L.relu) {
      const vfloat zero{};
      for (int o = 0; o < L.n_out; ++o)
        for (int r = r0; r < r1; ++r)
          for (int c0 = 0; c0 < w; c0 += VL) {
            float* gp = g.row(o, r) + c0;
            store_n(gp, loadu(out.row(o, r) + c0) > zero ? loadu(gp) : zero, std::min(VL, w - c0));
          }
    }
    conv_weight_grads(L, x, g, r0, r1, parts[t]);
  });
  Plane gpad(L.n_in, h, w, 1);
  over_rows(nt, -1, h + 1, [&](int, int r0, int r1) {
    if (L.n_in == 3 && L.n_out == 3) conv_input_grad_rows<3, 3>(L, g, gpad, r0, r1);
    else conv_input_grad_rows<0, 0>(L, g, gpad, r0, r1);
  });
  // Replicate padding's adjoint: border gradients onto the edge samples, then the residual.
  for (int i = 0; i < L.n_in; ++i) {
    for (int r = -1; r <= h; ++r) {
      float* row = gpad.row(i, r);
      row[0] += row[-1];
      row[w - 1] += row[w];
    }
    for (int col = 0; col < w; ++col) {
      gpad.row(i, 0)[col] += gpad.row(i, -1)[col];
      gpad.row(i, h - 1)[col] += gpad.row(i, h)[col];
    }
    for (int r = 0; r < h; ++r) {
      const float* src = gpad.row(i, r);
      float* dst = gx.row(i, r);
      std::copy(src, src + w, dst);
      if (L.residual) {
        const float* res = g.row(i, r);
        for (int col = 0; col < w; ++col) dst[col] += res[col];
      }
    }
  }
}

// Lane and part sums of the 3x3 layers' gradients, in a fixed order: [dK_0 .., db_0 ..].
std::vector<torch::Tensor> reduce_conv_grads(const std::vector<Conv>& convs,
                                             const std::vector<std::vector<ConvGrads>>& parts,
                                             const std::vector<torch::Tensor>& K) {
  std::vector<torch::Tensor> out;
  for (int pass = 0; pass < 2; ++pass)
    for (size_t j = 0; j < convs.size(); ++j) {
      auto t = pass == 0 ? torch::zeros_like(K[j]) : torch::zeros({convs[j].n_out}, K[j].options());
      float* dst = t.data_ptr<float>();
      for (int64_t k = 0; k < t.numel(); ++k) {
        double s = 0.0;
        for (const auto& p : parts[j]) {
          const vfloat& x = pass == 0 ? p.dK[k] : p.db[k];
          for (int v = 0; v < VL; ++v) s += lane(x, v);
        }
        dst[k] = (float)s;
      }
      out.push_back(t);
    }
  return out;
}

// The 1x1 MLP on features F (C, h * w) into the interior of out (its border replicated).
void mlp_forward(const Mlp& m, const float* F, int C, Plane& out, std::vector<Part>& parts, int nt) {
  const int h = out.h, w = out.w;
  over_rows(nt, 0, h, [&](int t, int r0, int r1) {
    vfloat* acts = parts[t].acts.data();
    const vfloat* y = acts + m.a_off[m.n_layers];
    for (int r = r0; r < r1; ++r)
      for (int c0 = 0; c0 < w; c0 += VL) {
        const int valid = std::min(VL, w - c0);
        for (int c = 0; c < C; ++c) acts[c] = load_n(F + (size_t)c * h * w + (size_t)r * w + c0, valid);
        forward(m, acts);
        for (int o = 0; o < out.c; ++o) store_n(out.row(o, r) + c0, y[o], valid);
      }
  });
  fill_border(out);
}

// Its backward from g (the output's gradient, pad 2): dF (C, h * w), MLP gradients in parts;
// the hidden layers recomputed.
void mlp_backward(const Mlp& m, const float* F, int C, const Plane& g, float* dF,
                  std::vector<Part>& parts, int nt) {
  const int h = g.h, w = g.w;
  over_rows(nt, 0, h, [&](int t, int r0, int r1) {
    Part& part = parts[t];
    vfloat* acts = part.acts.data();
    for (int r = r0; r < r1; ++r)
      for (int c0 = 0; c0 < w; c0 += VL) {
        const int valid = std::min(VL, w - c0);
        const size_t at = (size_t)r * w + c0;
        for (int c = 0; c < C; ++c) acts[c] = load_n(F + (size_t)c * h * w + at, valid);
        for (int l = 0; l < m.n_layers - 1; ++l)  // the inputs of every layer; not the output
          fwd_any(m.din[l], m.dout[l], m.W[l], m.b[l], acts + m.a_off[l], acts + m.a_off[l + 1],
                  m.residual[l], true);
        for (int o = 0; o < g.c; ++o) part.g[o] = loadu(g.row(o, r) + c0);
        const vfloat* gin = backward(m, acts, part.g.data(), part.tmp.data(), part.dW.data(), part.db.data());
        for (int c = 0; c < C; ++c) store_n(dF + (size_t)c * h * w + at, gin[c], valid);
      }
  });
}

// Sum of squared differences of the interior of x against target (c, h * w); the gradient
// scale * (x - target) into the interior of g (pad 2).
double squared_error(const Plane& x, const float* target, float scale, Plane& g, int nt) {
  std::vector<double> sums(nt, 0.0);
  over_rows(nt, 0, x.h, [&](int t, int r0, int r1) {
    vfloat sq{};
    for (int r = r0; r < r1; ++r)
      for (int c0 = 0; c0 < x.w; c0 += VL) {
        const int valid = std::min(VL, x.w - c0);
        for (int k = 0; k < x.c; ++k) {
          const vfloat d = load_n(x.row(k, r) + c0, valid) -
                        load_n(target + (size_t)k * x.h * x.w + (size_t)r * x.w + c0, valid);
          sq += d * d;
          store_n(g.row(k, r) + c0, scale * d, valid);
        }
      }
    double s = 0.0;
    for (int v = 0; v < VL; ++v) s += lane(sq, v);
    sums[t] = s;
  });
  double total = 0.0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace v2

// The v2 synthesis and its MSE: features F (C, H, W) through the 1x1 MLP (W, b: v1's rules,
// residual when in == out, ReLU after hidden layers), then the 3x3 layers (K (out, in, 3, 3),
// kb, flags: bit 0 residual, bit 1 ReLU; replicate padding), MSE against target (3, H * W).
// Returns [loss, dF, dW_0 .., db_0 .., dK_0 .., dkb_0 ..].
std::vector<torch::Tensor> conv_synthesis_mse(torch::Tensor F, torch::Tensor target,
                                              std::vector<torch::Tensor> W, std::vector<torch::Tensor> b,
                                              std::vector<torch::Tensor> K, std::vector<torch::Tensor> kb,
                                              std::vector<int64_t> flags) {
  const Mlp m = describe(W, b);
  const int C = (int)F.size(0), h = (int)F.size(1), w = (int)F.size(2);
  const int nt = std::min<int>(n_parts(), std::max(h, 1));
  std::vector<v2::Conv> convs;
  int width = m.dout.back();
  TORCH_CHECK(m.din[0] == C && K.size() == kb.size() && K.size() == flags.size(), "bad layers");
  for (size_t j = 0; j < K.size(); ++j) {
    const int n_out = (int)K[j].size(0);
    TORCH_CHECK(K[j].size(1) == width && K[j].size(2) == 3 && K[j].size(3) == 3,
                "3x3 layer ", j, ": weight shape");
    TORCH_CHECK(width <= v2::MAX_CHANNELS && n_out <= v2::MAX_CHANNELS, "at most 64 channels");
    TORCH_CHECK(!(flags[j] & 1) || n_out == width, "a residual layer keeps its width");
    convs.push_back({width, n_out, K[j].data_ptr<float>(), kb[j].data_ptr<float>(),
                     (flags[j] & 1) != 0, (flags[j] & 2) != 0});
    width = n_out;
  }
  TORCH_CHECK(target.size(0) == width && target.size(1) == (int64_t)h * w, "target shape");
  std::vector<Part> parts(nt);
  for (auto& p : parts) p.init(m);
  const float* f = F.data_ptr<float>();
  std::vector<v2::Plane> xs;  // the input of every 3x3 layer, then the image
  xs.emplace_back(m.dout.back(), h, w, 1);
  v2::mlp_forward(m, f, C, xs[0], parts, nt);
  for (const auto& L : convs) {
    xs.emplace_back(L.n_out, h, w, 1);
    v2::conv_forward(L, xs[xs.size() - 2], xs.back(), nt);
  }
  const int n_out = xs.back().c;
  v2::Plane g(n_out, h, w, 2);
  const double sse = v2::squared_error(xs.back(), target.data_ptr<float>(),
                                       2.0f / (float)((int64_t)n_out * h * w), g, nt);
  std::vector<std::vector<v2::ConvGrads>> conv_parts;
  for (const auto& L : convs) conv_parts.emplace_back(nt, v2::ConvGrads(L));
  for (int j = (int)convs.size() - 1; j >= 0; --j) {
    v2::Plane gx(convs[j].n_in, h, w, 2);
    v2::conv_backward(convs[j], xs[j], xs[j + 1], g, gx, conv_parts[j], nt);
    g = std::move(gx);
  }
  auto dF = torch::empty_like(F);
  v2::mlp_backward(m, f, C, g, dF.data_ptr<float>(), parts, nt);
  std::vector<torch::Tensor> result{
      torch::full({}, (float)(sse / (double)((int64_t)n_out * h * w)), F.options()), dF};
  for (auto& t : reduce_grads(m, parts, W)) result.push_back(t);
  for (auto& t : v2::reduce_conv_grads(convs, conv_parts, K)) result.push_back(t);
  return result;
}
