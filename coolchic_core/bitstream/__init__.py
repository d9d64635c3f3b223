"""Bitstream formats. `v1` is the original COOL-CHIC format (April 2023).

Each format lives in its own module with the same shape: a header dataclass,
`parse(bytes)` into segments, and `assemble(...)` back into bytes. A later
format adds a module beside v1 and a magic number that v1 cannot start with.
"""
