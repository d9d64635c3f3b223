// Native reconstruction of the decoder: v1's cascaded bicubic upsampling (bicubic.h) and
// per-pixel synthesis MLP, v2's learned upsampling and convolutional synthesis
// (conv_decoding.h). Float arithmetic: the image agrees with PyTorch's to rounding, and
// does not depend on the thread count. The latents come from latent_decoder.cpp.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "bicubic.h"
#include "conv_decoding.h"
#include "simd.h"

namespace {


struct SynthesisLayer {
  int n_in, n_out;
  bool residual, hidden;
  std::vector<float> W, b;  // W: (out, in)
};

void synthesis_block(const std::vector<SynthesisLayer>& layers, std::vector<vfloat>& a, std::vector<vfloat>& z) {
  for (const auto& L : layers) {
    for (int o = 0; o < L.n_out; ++o) {
      vfloat acc = vfloat{} + L.b[o];
      const float* w = L.W.data() + (size_t)o * L.n_in;
      for (int i = 0; i < L.n_in; ++i) acc += w[i] * a[i];
      if (L.residual) acc += a[o];
      if (L.hidden) acc = acc > vfloat{} ? acc : vfloat{};
      z[o] = acc;
    }
    std::swap(a, z);
  }
}

}  // namespace

// Per-pixel synthesis MLP on features (N, H, W) to the image (H, W, C) clamped to [0, 1].
torch::Tensor synthesize(torch::Tensor features, std::vector<torch::Tensor> weights,
                         std::vector<torch::Tensor> biases, std::vector<bool> residual) {
  auto X = features.to(torch::kFloat32).contiguous();
  TORCH_CHECK(X.dim() == 3 && weights.size() == biases.size() && weights.size() == residual.size());
  const int n_ch = (int)X.size(0);
  const int64_t H = X.size(1), Wd = X.size(2), P = H * Wd;
  std::vector<SynthesisLayer> layers;
  int width = n_ch, prev = n_ch;
  for (size_t l = 0; l < weights.size(); ++l) {
    auto w = weights[l].to(torch::kFloat32).contiguous();
    auto bb = biases[l].to(torch::kFloat32).contiguous();
    TORCH_CHECK(w.dim() == 2 && w.size(1) == prev && bb.numel() == w.size(0), "synthesis layer shape");
    const bool hidden = l + 1 < weights.size();
    const bool res = residual[l];  // the format's rule, decided by the caller
    TORCH_CHECK(!res || w.size(0) == w.size(1), "a residual layer is square");
    layers.push_back({(int)w.size(1), (int)w.size(0), res, hidden,
                      std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()),
                      std::vector<float>(bb.data_ptr<float>(), bb.data_ptr<float>() + bb.numel())});
    prev = (int)w.size(0);
    width = std::max(width, prev);
  }
  const int n_out = prev;
  auto image = torch::empty({H, Wd, n_out}, torch::kFloat32);
  const float* x = X.data_ptr<float>();
  float* img = image.data_ptr<float>();
  const int64_t n_blocks = (P + VL - 1) / VL;
  at::parallel_for(0, n_blocks, 256, [&](int64_t begin, int64_t end) {
    std::vector<vfloat> a(width), z(width);
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t p0 = blk * VL;
      const int n = (int)std::min<int64_t>(VL, P - p0);
      for (int c = 0; c < n_ch; ++c) {
        vfloat v{};
        for (int k = 0; k < n; ++k) v[k] = x[(int64_t)c * P + p0 + k];
        a[c] = v;
      }
      synthesis_block(layers, a, z);
      for (int k = 0; k < n; ++k)
        for (int o = 0; o < n_out; ++o)
          img[(p0 + k) * n_out + o] = std::min(std::max(a[o][k], 0.0f), 1.0f);
    }
  });
  return image;
}

// Checked entry to the shared upsampling: non-empty, 2-D float32 grids, each at least 1x1.
torch::Tensor upsample_grids(std::vector<torch::Tensor> grids) {
  TORCH_CHECK(!grids.empty(), "at least one latent grid");
  for (auto& grid : grids) {
    TORCH_CHECK(grid.dim() == 2 && grid.size(0) > 0 && grid.size(1) > 0, "latent grid shape");
    grid = grid.to(torch::kFloat32).contiguous();
  }
  return upsample_cascade(grids);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upsample_cascade", &upsample_grids, "cascaded bicubic upsampling to (N, H, W)");
  m.def("synthesize", &synthesize, "synthesis MLP to the clamped image (H, W, C)");
  m.def("learned_upsample_cascade", &learned_upsample_cascade, "v2 learned upsampling to (N, H, W)");
  m.def("conv_synthesize", &conv_synthesize, "v2 convolutional synthesis to the clamped image (H, W, C)");
}
