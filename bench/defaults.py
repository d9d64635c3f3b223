"""Defaults chosen from the machine: the preset and the number of local workers.

`--preset auto` (the default) is `fast` when the jobs run on CPUs and `paper`
(the full v1 recipe) when they run on CUDA GPUs, so that a plain
`make kodak` (which passes `--devices auto`: every CUDA GPU, else the CPU)
finishes the same day on either. Without `--workers`, a CPU run
has one worker per core, each with one torch thread (bench.schedule gives each
worker cores / workers threads).
"""

from __future__ import annotations

from bench.schedule import available_cores, parse_devices
from coolchic_core.devices import is_cuda

AUTO = "auto"
CPU_PRESET = "fast"
GPU_PRESET = "paper"


def resolve_devices(text: str, local: bool = True) -> list[str]:
    """`--devices`: `auto` is every CUDA GPU torch sees, else the CPU (`bench.schedule`)."""
    return parse_devices(text, local)


def machine_preset(devices: list[str]) -> str:
    """The preset `auto` stands for on these devices."""
    return GPU_PRESET if any(map(is_cuda, devices)) else CPU_PRESET


def resolve_preset(preset: str, devices: list[str]) -> tuple[str, str]:
    """(preset, note for the user): `auto` resolved for `devices`, other names as given."""
    if preset != AUTO:
        return preset, ""
    chosen = machine_preset(devices)
    where = "CUDA GPUs" if chosen == GPU_PRESET else "CPUs"
    return chosen, f": auto, for {where}"


def default_workers(devices: list[str]) -> int:
    """One worker per core on CPU; with GPUs, 1: the CPU workers beside them (--devices all)."""
    return available_cores() if devices == ["cpu"] else 1
