"""Building the C++ kernels of this package into a cache keyed by everything the binary depends on.

A kernel is a list of `.cpp` files beside this module plus its own compiler
flags. It is compiled by `torch.utils.cpp_extension.load` for one instruction
set level chosen from the CPU's flags (`ISA_LEVELS`, best first: never a bare
`-march=native`, so a build made on one CPU is never run on another), into
`<cache>/<kernel>-<key>/`. The key hashes the sources, the flags, the torch
and Python versions, the machine and the CPU's instruction sets; a folder is
loaded only when its `manifest.json` holds the same key, so a stale or
foreign build is never loaded, it is rebuilt beside the others.

A kernel may name the highest level it is built for (`Kernel.max_isa`), and
`$COOLCHIC_KERNEL_ISA` (a level's name, or `generic`) caps every kernel further,
for a machine where a level misbehaves or to compare builds.

The cache is `$COOLCHIC_KERNEL_CACHE`, else `$XDG_CACHE_HOME/coolchic/kernels`,
else `~/.cache/coolchic/kernels`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from coolchic_core.atomic_io import atomic_write_bytes

logger = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "manifest.json"
ISA_VARIABLE = "COOLCHIC_KERNEL_ISA"
# Bumped when the way a build is made changes without the sources or flags changing.
BUILD_RECIPE_VERSION = 1


@dataclass(frozen=True)
class IsaLevel:
    """An instruction set level: the CPU flags it needs and the compiler flags it gives."""

    name: str
    required_flags: frozenset[str]
    cflags: tuple[str, ...]


_V2 = frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})
_V3 = _V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
_V4 = _V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}

# The x86-64 micro-architecture levels (psABI), best first; `generic` runs on any CPU.
ISA_LEVELS = (
    IsaLevel("x86-64-v4", _V4, ("-march=x86-64-v4", "-mtune=generic", "-mprefer-vector-width=512")),
    IsaLevel("x86-64-v3", _V3, ("-march=x86-64-v3", "-mtune=generic")),
    IsaLevel("x86-64-v2", _V2, ("-march=x86-64-v2", "-mtune=generic")),
)
GENERIC = IsaLevel("generic", frozenset(), ())
ISA_NAMES = (*(level.name for level in ISA_LEVELS), GENERIC.name)


@dataclass(frozen=True)
class Kernel:
    """One extension module: its sources and headers (file names beside this module), flags."""

    name: str
    sources: tuple[str, ...]
    cflags: tuple[str, ...] = ("-O3",)
    headers: tuple[str, ...] = ()
    max_isa: str | None = None  # the highest level it is built for (a name of ISA_NAMES)


@dataclass(frozen=True)
class BuildVariant:
    """What a kernel is built for on this machine, and where its build lives."""

    kernel: Kernel
    isa: IsaLevel
    key: str
    cflags: tuple[str, ...]
    directory: Path

    @property
    def module_name(self) -> str:
        return f"coolchic_{self.kernel.name}_{self.key[:16]}"

    def describe(self) -> dict:
        return {
            "kernel": self.kernel.name,
            "isa": self.isa.name,
            "key": self.key,
            "cflags": list(self.cflags),
            "path": str(self.directory),
        }


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (x86 `flags`, Arm `Features`); empty where unknown."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _rank(name: str) -> int:
    """Position of a level in ISA_NAMES (0 is the best); ValueError for an unknown name."""
    if name not in ISA_NAMES:
        raise ValueError(f"unknown instruction set level {name!r}: one of {', '.join(ISA_NAMES)}")
    return ISA_NAMES.index(name)


def choose_isa(cpu_flags: frozenset[str], machine: str, *ceilings: str | None) -> IsaLevel:
    """The best level whose flags the CPU has and that no ceiling forbids; `generic` off
    x86-64 or when none fits."""
    if machine.lower() not in ("x86_64", "amd64"):
        return GENERIC
    lowest = max((_rank(name) for name in ceilings if name), default=0)
    allowed = ISA_LEVELS[lowest:]
    return next((level for level in allowed if level.required_flags <= cpu_flags), GENERIC)


def isa_ceiling_from_environment() -> str | None:
    """The level `$COOLCHIC_KERNEL_ISA` caps builds at, or None when it is unset or empty."""
    name = os.environ.get(ISA_VARIABLE, "").strip()
    if name:
        _rank(name)  # an unknown name is refused, never ignored
    return name or None


def source_digest(kernel: Kernel) -> str:
    """SHA-256 of the kernel's source and header files (names and bytes)."""
    digest = hashlib.sha256()
    for name in sorted((*kernel.sources, *kernel.headers)):
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(
    source_sha256: str,
    cflags: tuple[str, ...],
    torch_version: str,
    cpu_flags: frozenset[str],
    machine: str,
    python_version: str,
) -> str:
    """Hex digest of everything a build depends on (the CPU's exact flag set included)."""
    fields = {
        "recipe": BUILD_RECIPE_VERSION,
        "source_sha256": source_sha256,
        "cflags": list(cflags),
        "torch": torch_version,
        "cpu_flags": sorted(cpu_flags),
        "machine": machine,
        "python": python_version,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def cache_root() -> Path:
    if os.environ.get("COOLCHIC_KERNEL_CACHE"):
        return Path(os.environ["COOLCHIC_KERNEL_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "coolchic" / "kernels"


def variant(
    kernel: Kernel,
    cpu_flags: frozenset[str] | None = None,
    machine: str | None = None,
    root: Path | None = None,
) -> BuildVariant:
    """The build of `kernel` for this CPU (or for the given flags and machine, in tests)."""
    import torch

    cpu_flags = read_cpu_flags() if cpu_flags is None else frozenset(cpu_flags)
    machine = platform.machine() if machine is None else machine
    isa = choose_isa(cpu_flags, machine, kernel.max_isa, isa_ceiling_from_environment())
    cflags = (*kernel.cflags, *isa.cflags)
    key = cache_key(
        source_digest(kernel),
        cflags,
        torch.__version__,
        cpu_flags,
        machine,
        platform.python_version(),
    )
    directory = (root or cache_root()) / f"{kernel.name}-{isa.name}-{key[:16]}"
    return BuildVariant(kernel, isa, key, cflags, directory)


def _manifest_key(directory: Path) -> str | None:
    try:
        return json.loads((directory / MANIFEST_NAME).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def built_library(build: BuildVariant) -> Path | None:
    """The compiled module of `build`, only if its folder's manifest holds the same key."""
    if _manifest_key(build.directory) != build.key:
        return None
    library = build.directory / f"{build.module_name}.so"
    return library if library.is_file() else None


def _import_library(build: BuildVariant, library: Path):
    spec = importlib.util.spec_from_file_location(build.module_name, library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[build.module_name] = module
    return module


def compiler() -> str:
    """The C++ compiler torch's extension builder runs ($CXX, else c++)."""
    return os.environ.get("CXX", "c++")


def _compile(build: BuildVariant):
    from torch.utils.cpp_extension import load

    if shutil.which(compiler()) is None:
        raise FileNotFoundError(f"no C++ compiler ({compiler()} not found)")
    build.directory.mkdir(parents=True, exist_ok=True)
    (build.directory / MANIFEST_NAME).unlink(missing_ok=True)
    torch_logger = logging.getLogger("torch.utils.cpp_extension")
    level = torch_logger.level
    torch_logger.setLevel(logging.ERROR)  # its compiler-version notices: the caller logs one line
    try:
        module = load(
            name=build.module_name,
            sources=[str(SOURCE_DIR / name) for name in build.kernel.sources],
            extra_cflags=list(build.cflags),
            build_directory=str(build.directory),
            verbose=False,
        )
    finally:
        torch_logger.setLevel(level)
    manifest = json.dumps(build.describe(), indent=1).encode()
    atomic_write_bytes(build.directory / MANIFEST_NAME, manifest)
    return module


@functools.cache
def load_kernel(kernel: Kernel):
    """The extension module of `kernel` for this CPU: from the cache, else compiled now.

    Raises whatever the compiler raises (no compiler, a build error); callers fall back.
    """
    build = variant(kernel)
    import torch  # noqa: F401  (the extension links against torch's libraries)

    library = built_library(build)
    if library is not None:
        return _import_library(build, library)
    logger.info("building kernel %s for %s in %s", kernel.name, build.isa.name, build.directory)
    return _compile(build)
