"""Random damage to a bitstream, and the check that a decoder survives it."""

from __future__ import annotations

from coolchic_core import CoolChicError, decode_bitstream


def mutate(original: bytes, data) -> bytes:
    """Up to 8 bytes replaced, then perhaps a truncation (hypothesis `st.data()` draws)."""
    from hypothesis import strategies as st

    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    return bytes(mutated)


def assert_decodes_or_refuses(data: bytes) -> None:
    """Either an image of the header's size, or the project's own error (never another)."""
    try:
        decoded = decode_bitstream(data)
    except CoolChicError:
        return
    assert decoded.rgb8.shape == (decoded.header.height, decoded.header.width, 3)
