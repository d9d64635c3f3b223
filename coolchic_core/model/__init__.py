"""The COOL-CHIC v1 model used for training: latent grids, cascaded bicubic
upsampling, synthesis MLP, auto-regressive model (ARM) and its Laplace rate.

Every module computes what the decoder computes (format spec sections 4-7),
with a differentiable quantization proxy in place of rounding in training.
"""

from coolchic_core.model.coolchic import CoolChic, ForwardOutput

__all__ = ["CoolChic", "ForwardOutput"]
