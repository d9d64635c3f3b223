"""Rate and distortion measured from the bytes on disk, as the original did.

rate_bpp = 8 * n_bytes / (H * W) of the whole file (whose SHA-256 is kept);
psnr_db = 10 log10(1 / MSE) between the decoder's float output and the original / 255
(the original's raw_results.tsv); psnr_db_8bit uses the rounded 8-bit output instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from coolchic_core.errors import BitstreamError
from coolchic_core.image_io import rgb8_to_float, write_png
from coolchic_core.metrics import mse, psnr_db_from_mse, rate_bpp
from datasets.checksum import sha256_bytes


def distortion(decoded: np.ndarray, original_rgb8: np.ndarray, n_bytes: int) -> dict:
    """Rate and distortion of a decoded image (float in [0, 1] or uint8) against the original."""
    if decoded.shape != original_rgb8.shape:
        raise BitstreamError(
            f"decoded image is {decoded.shape[1]}x{decoded.shape[0]} but the original is "
            f"{original_rgb8.shape[1]}x{original_rgb8.shape[0]}"
        )
    decoded_float = rgb8_to_float(decoded) if decoded.dtype == np.uint8 else decoded
    height, width = original_rgb8.shape[:2]
    mse_value = mse(decoded_float, rgb8_to_float(original_rgb8))
    return {
        "rate_bpp": rate_bpp(n_bytes, height * width),
        "psnr_db": psnr_db_from_mse(mse_value),
        "n_bytes": n_bytes,
        "n_pixels": height * width,
        "height": height,
        "width": width,
        "mse": mse_value,
    }


def measure_coolchic(bitstream: Path, original_rgb8: np.ndarray, png: Path | None) -> dict:
    """Decode a COOL-CHIC bitstream file and measure it; optionally save the decoded PNG."""
    from coolchic_core import decode_bitstream

    data = bitstream.read_bytes()
    start = time.perf_counter()
    decoded = decode_bitstream(data)
    dec_time_s = time.perf_counter() - start
    measures = distortion(decoded.image, original_rgb8, len(data))
    measures["bitstream_sha256"] = sha256_bytes(data)
    measures["format"] = decoded.format_name
    rgb8 = decoded.rgb8
    measures["psnr_db_8bit"] = psnr_db_from_mse(
        mse(rgb8_to_float(rgb8), rgb8_to_float(original_rgb8))
    )
    measures["dec_time_s"] = dec_time_s
    _save_png(png, rgb8, measures)
    return measures


def measure_classical(codec, bitstream: Path, original_rgb8: np.ndarray, png: Path | None) -> dict:
    """Decode a classical codec's file with `codec.decode` and measure it."""
    data = bitstream.read_bytes()
    start = time.perf_counter()
    rgb8 = np.asarray(codec.decode(data))
    dec_time_s = time.perf_counter() - start
    measures = distortion(rgb8, original_rgb8, len(data))
    measures["bitstream_sha256"] = sha256_bytes(data)
    measures["dec_time_s"] = dec_time_s
    _save_png(png, rgb8, measures)
    return measures


def _save_png(png: Path | None, rgb8: np.ndarray, measures: dict) -> None:
    if png is None:
        return
    png.parent.mkdir(parents=True, exist_ok=True)
    write_png(png, rgb8)
    measures["decoded_png"] = str(png)
