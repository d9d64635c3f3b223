"""The v2 format: `architecture` (the model a header describes, its MAC count), `layers`
(upsampling and synthesis, shared by trainer and decoder), `model` (the training model),
`header`, `segments`, `writer` and `format` (the registry entry)."""

from coolchic_core.formats.registry import register
from coolchic_core.formats.v2.format import V2Format

FORMAT = register(V2Format())
