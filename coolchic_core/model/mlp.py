"""The per-pixel MLP shared by the synthesis and the ARM (format spec section 4).

Data is laid out channels first, (C, P): a layer is one matmul W @ X plus
the bias (and X for a residual layer), with no reshape of the pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from coolchic_core.mlp_params import is_residual, layer_shapes


class Mlp(nn.Module):
    """Hidden layers residual when in == out (y = Wx + b + x), ReLU after each; plain output.

    Initialisation of COOL-CHIC v1: plain layers randn / out^2, residual
    layers zero, biases zero.
    """

    def __init__(
        self, n_in: int, hidden: tuple[int, ...], n_out: int, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.dims = [(d_in, d_out) for d_out, d_in in layer_shapes(n_in, tuple(hidden), n_out)]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for index, (d_in, d_out) in enumerate(self.dims):
            if self.is_residual(index):
                weight = torch.zeros(d_out, d_in)
            else:
                weight = torch.randn(d_out, d_in, generator=generator) / d_out**2
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(d_out)))

    def is_residual(self, index: int) -> bool:
        """Whether layer `index` is a residual hidden layer."""
        d_in, d_out = self.dims[index]
        return is_residual(index, len(self.dims), d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x of shape (C_in, P) to (C_out, P)."""
        n_layers = len(self.dims)
        for index in range(n_layers):
            y = torch.addmm(self.biases[index][:, None], self.weights[index], x)
            if self.is_residual(index):
                y = y + x
            x = torch.relu(y) if index < n_layers - 1 else y
        return x

    def layers_numpy(self) -> list[tuple]:
        """(weight (out, in), bias (out,)) float32 numpy pairs, first to last."""
        return [
            (w.detach().cpu().numpy().copy(), b.detach().cpu().numpy().copy())
            for w, b in zip(self.weights, self.biases, strict=True)
        ]
