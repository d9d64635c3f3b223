"""Errors of the reports package."""

from __future__ import annotations

from coolchic_core.errors import InputError


class ReportError(InputError):
    """A results table, an anchor or a rate-distortion curve cannot be used."""
