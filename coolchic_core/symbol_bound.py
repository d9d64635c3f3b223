"""The symbol bound A of the range coder: every coded integer k has |k| <= A - 2.

Format spec, section 9: A = max |k| + 2 over the integers of a stream; the
v1 header holds it in 2 bytes, so A is at most 65535.
"""

from __future__ import annotations

from coolchic_core.errors import InputError

MAX_SYMBOL_BOUND = 65535


def symbol_bound(max_abs_integer: int) -> int:
    """A for integers of magnitude at most `max_abs_integer`; InputError past the maximum."""
    bound = int(max_abs_integer) + 2
    if bound > MAX_SYMBOL_BOUND:
        raise InputError(
            f"a quantized value of magnitude {max_abs_integer} does not fit the "
            f"range coder's symbol bound (at most {MAX_SYMBOL_BOUND - 2})"
        )
    return bound


def fits_symbol_bound(max_abs_integer: int) -> bool:
    """Whether integers of this magnitude can be coded."""
    return int(max_abs_integer) + 2 <= MAX_SYMBOL_BOUND
