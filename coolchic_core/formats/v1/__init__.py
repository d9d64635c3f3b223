"""The v1 format: `header` (declared fields), `segments` (split and join the bytes),
`writer` (q-step search and writing), `format` (the registry entry)."""

from coolchic_core.formats.registry import register
from coolchic_core.formats.v1.format import V1Format

FORMAT = register(V1Format())
