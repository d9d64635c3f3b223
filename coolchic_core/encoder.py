"""Encoding an image: train (overfit) the model, quantize its networks and write the bytes
of the chosen format, then decode those bytes to report what any decoder will get.

Training runs on the chosen device; everything after it (quantizing the MLPs,
the fixed-point ARM, the entropy coding) runs on the CPU from the trained
parameters as numpy arrays, so the same parameters give the same bytes
whichever device trained them.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from coolchic_core import formats
from coolchic_core.decoder import DecodedImage, decode_bitstream
from coolchic_core.devices import resolve_device
from coolchic_core.errors import InputError
from coolchic_core.image_io import image_to_rgb8, read_image, rgb8_to_float
from coolchic_core.metrics import psnr_db
from coolchic_core.presets import ModelConfig, get_preset, override

RESULT_FIELDS = (
    "psnr",
    "rate_latent_bpp",
    "rate_mlp_bpp",
    "rate_all_bpp",
    "training_time_second",
    "n_iteration",
    "decoder_rate_bpp",
    "decoder_psnr_db",
    "device",
    "device_name",
    "backend",
)


@dataclass
class EncodeResult:
    """The bitstream, the metrics of the original's results file, and what was decoded."""

    bitstream: bytes
    metrics: dict
    decoded: DecodedImage
    fit: object = field(repr=False)  # training.FitResult
    encode_time_s: float = 0.0


def load_image(image) -> np.ndarray:
    """A path, a uint8 (H, W, 3) array or a Pillow image, as uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(Path(image))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"image array must be uint8 of shape (H, W, 3), got {image.dtype} {image.shape}"
            )
        return image
    try:
        return image_to_rgb8(image)
    except AttributeError:
        raise InputError(f"cannot use an image of type {type(image).__name__}") from None


def encode(
    image,
    lmbda: float,
    preset: str = "fast",
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    progress=None,
    model_config: ModelConfig | None = None,
    exhaustive_q_step_search: bool | None = None,
    format: str = "v1",
    cuda_graphs: str = "auto",
    **overrides,
) -> EncodeResult:
    """Encode `image` at rate-distortion trade-off `lmbda` into a bitstream of `format`.

    `overrides` replace fields of the preset's TrainingConfig (n_itr, start_lr,
    n_trial_warmup, ...); `threads` sets torch's CPU threads for this process.
    `device`: auto (the first CUDA GPU, else the CPU), cpu or cuda:N;
    `cuda_graphs`: auto or off (see `training.fit`). The metrics say which
    device, its name and the training backend.
    The MLP q-step search tries every pair with the "paper" preset (as the
    original did) and is a coordinate search otherwise, unless
    `exhaustive_q_step_search` says which.
    """
    from coolchic_core.training import fit

    if not (math.isfinite(lmbda) and lmbda > 0):
        raise InputError(f"lambda must be a positive number, got {lmbda}")
    device = resolve_device(device)
    config = override(get_preset(preset), **overrides)
    if not (math.isfinite(config.start_lr) and config.start_lr > 0):
        raise InputError(f"start_lr must be a positive number, got {config.start_lr}")
    if threads is not None:
        if int(threads) < 1:
            raise InputError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
    bitstream_format = formats.get(format)
    model_config = model_config or bitstream_format.default_model_config()
    original = rgb8_to_float(load_image(image))
    bitstream_format.check_model(model_config, original.shape[0], original.shape[1])
    start = time.perf_counter()
    fitted = fit(
        original,
        lmbda,
        model_config,
        config,
        seed=seed,
        progress=progress,
        device=device,
        cuda_graphs=cuda_graphs,
    )
    if exhaustive_q_step_search is None:
        exhaustive_q_step_search = preset == "paper"
    bitstream, estimates = write_on_cpu(
        bitstream_format, fitted, original, lmbda, model_config, exhaustive_q_step_search
    )
    encode_time_s = time.perf_counter() - start
    with torch.device("cpu"):
        decoded = decode_bitstream(bitstream)
    metrics = {
        **estimates,
        "training_time_second": fitted.training_time_s,
        "n_iteration": fitted.n_iterations,
        "decoder_rate_bpp": decoded.rate_bpp,
        "decoder_psnr_db": psnr_db(decoded.image, original),
        "device": fitted.device,
        "device_name": fitted.device_name.replace(",", " "),
        "backend": fitted.backend,
    }
    return EncodeResult(
        bitstream, {k: metrics[k] for k in RESULT_FIELDS}, decoded, fitted, encode_time_s
    )


def write_on_cpu(bitstream_format, fitted, original, lmbda, model_config, exhaustive):
    """The format's bytes and estimates from the trained parameters (numpy arrays), computed
    on the CPU whatever torch's default device is: the same parameters, the same bytes."""
    with torch.device("cpu"):
        return bitstream_format.write(fitted, original, lmbda, model_config, exhaustive)
