"""Documented limits, checked before any allocation.

A bitstream or an image larger than this is refused with an error instead of
exhausting memory: decoding one pixel of the paper's architecture needs about
200 bytes of working memory, so the maximum image costs about 3.5 GB.
"""

MAX_IMAGE_SIDE_PX = 16384
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_LATENT_GRIDS = 12
MAX_MLP_HIDDEN_LAYERS = 16
MAX_MLP_WIDTH = 64
MAX_N_CTX_ROWCOL = 8

# Decoding work: multiplications of the ARM and the synthesis over the whole image.
# The paper's architecture at the maximum image size (about 700 per pixel x 16.8 M
# pixels = 1.2e10) fits with room for larger models on smaller images; a header
# that asks for more is refused before anything is allocated.
MAX_DECODE_MULTIPLICATIONS = 4096 * 4096 * 2000

# Run options: torch.manual_seed takes a signed 64-bit integer; more threads than this
# is a typing error on any machine of today.
MAX_SEED = 2**63 - 1
MAX_THREADS = 1024


def seed_problem(seed: int, option: str = "--seed") -> str | None:
    """Why `seed` is refused (outside 0 .. MAX_SEED), or None."""
    if not 0 <= seed <= MAX_SEED:
        return f"{option} must be between 0 and 2**63 - 1, got {seed}"
    return None


def threads_problem(threads: int | None, option: str = "--threads") -> str | None:
    """Why a thread count is refused (outside 1 .. MAX_THREADS; None means the default)."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        return f"{option} must be between 1 and {MAX_THREADS}, got {threads}"
    return None


def image_size_problem(height: int, width: int) -> str | None:
    """Why an image of this size is refused (by the encoder and by every decoder), or None."""
    if height < 1 or width < 1:
        return f"image of {width}x{height} pixels is empty"
    if max(height, width) > MAX_IMAGE_SIDE_PX or height * width > MAX_IMAGE_PIXELS:
        return (
            f"image of {width}x{height} pixels exceeds the supported maximum of "
            f"{MAX_IMAGE_PIXELS} pixels and {MAX_IMAGE_SIDE_PX} per side"
        )
    return None
