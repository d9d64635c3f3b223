"""COOL-CHIC: an overfitted neural image codec; bitstream formats are plugins (`formats`).

Public API (all that the CLI, the bench and the reports use):

- `decode(bitstream) -> np.ndarray`: path or bytes to a uint8 (H, W, 3) image.
- `decode_bitstream(bitstream) -> DecodedImage`: the same with the header,
  the integer latent grids and the float image.
- `encode(image, lmbda, preset="fast", seed=0, ...) -> EncodeResult`: trains
  the model on one image and returns the v1 bitstream bytes and the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coolchic_core.errors import BitstreamError, CoolChicError, InputError

__version__ = "0.1.0"

__all__ = [
    "BitstreamError",
    "CoolChicError",
    "InputError",
    "decode",
    "decode_bitstream",
    "encode",
    "formats",
    "__version__",
]

if TYPE_CHECKING:
    from coolchic_core.decoder import decode, decode_bitstream
    from coolchic_core.encoder import encode

_LAZY_MODULES = {"formats": "coolchic_core.formats"}
_LAZY = {
    "decode": "coolchic_core.decoder",
    "decode_bitstream": "coolchic_core.decoder",
    "encode": "coolchic_core.encoder",
}


def __getattr__(name: str):
    """Import the heavy modules (torch) only when their functions are used."""
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(_LAZY_MODULES[name])
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coolchic_core' has no attribute {name!r}")
