"""The project's error types: every expected failure is one of these."""


class CoolChicError(Exception):
    """Base class of every error the project raises on purpose."""


class BitstreamError(CoolChicError):
    """A bitstream is malformed, truncated, or outside the supported limits."""


class InputError(CoolChicError):
    """A user input (image, path, option) cannot be used."""
