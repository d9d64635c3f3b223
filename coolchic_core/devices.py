"""Which device a training runs on: parsing, validation and naming of `--device`.

One module owns the rules, for `coolchic encode --device`, `coolchic bench
--devices` and the speed bench:

- `auto`: the first CUDA GPU if torch sees one, else the CPU;
- `cpu`; `cuda` (= `cuda:0`); `cuda:N`.

`resolve_device` checks that the GPU exists and raises `InputError` with one
line saying why not (torch built without CUDA, no GPU visible, index out of
range). `device_name` names the hardware for the results (the GPU's name or
the CPU's model). `prepare_device` sets what deterministic CUDA training needs
before the first cuBLAS call.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re

from coolchic_core.errors import InputError

AUTO = "auto"
CPU = "cpu"
_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::([0-9]+))?$")
# cuBLAS is deterministic only with a fixed workspace (torch's reproducibility notes).
CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def parse_device(text: str) -> str:
    """Normalise the spelling (`cuda` -> `cuda:0`); raise InputError on an unknown device."""
    spec = str(text).strip().lower()
    match = _DEVICE.match(spec)
    if match is None or (match.group(1) != "cuda" and match.group(2) is not None):
        shown = spec if spec else repr(text)
        raise InputError(f"unknown device {shown}: use auto, cpu, cuda or cuda:N")
    if match.group(1) == "cuda":
        return f"cuda:{int(match.group(2) or 0)}"
    return match.group(1)


def cuda_device_count() -> int:
    """GPUs torch can use here (0 when torch has no CUDA or sees no GPU)."""
    import torch

    if torch.version.cuda is None or not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count()


def gpu_devices() -> list[str]:
    """`cuda:0` .. `cuda:{n-1}` for the GPUs torch sees, in order."""
    return [f"cuda:{index}" for index in range(cuda_device_count())]


def resolve_device(text: str) -> str:
    """`cpu` or an existing `cuda:N` for `text`; InputError (one line) if that GPU is missing."""
    device = parse_device(text)
    if device == AUTO:
        return "cuda:0" if cuda_device_count() > 0 else CPU
    if device == CPU:
        return CPU
    check_cuda_device(device)
    return device


def check_cuda_device(device: str) -> None:
    """Raise InputError saying why `device` (cuda:N) cannot be used here, if it cannot."""
    import torch

    if torch.version.cuda is None:
        raise InputError("no CUDA device: torch was built without CUDA")
    if not torch.cuda.is_available():
        raise InputError(
            "no CUDA device: torch has CUDA but sees no GPU (driver, CUDA_VISIBLE_DEVICES)"
        )
    index, count = int(device.split(":")[1]), torch.cuda.device_count()
    if index >= count:
        raise InputError(f"no CUDA device {device}: this machine has {count} GPU{_plural(count)}")


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def is_cuda(device) -> bool:
    return str(device).startswith("cuda")


def device_name(device: str) -> str:
    """The hardware behind `device`: the GPU's name, or the CPU's model name."""
    if is_cuda(device):
        import torch

        return torch.cuda.get_device_name(int(str(device).partition(":")[2] or 0))
    return cpu_name()


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else platform's guess)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def prepare_device(device: str) -> None:
    """Before training on `device`: the cuBLAS workspace that makes its products deterministic."""
    if is_cuda(device):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def parse_device_list(text: str) -> list[str]:
    """`coolchic bench --devices`: auto, all, cpu, or a comma list such as cuda:0,cuda:1[,cpu].

    auto: every GPU, else the CPU. all: every GPU and the CPU. The GPUs of a
    list are checked to exist here; `cpu` in a list adds CPU workers beside them.
    """
    items = [item.strip().lower() for item in str(text).split(",") if item.strip()]
    if not items:
        raise InputError("--devices is empty")
    if items == [AUTO]:
        return gpu_devices() or [CPU]
    if items == ["all"]:
        return [*gpu_devices(), CPU]
    if AUTO in items or "all" in items:
        raise InputError("--devices: auto and all go alone, not in a list")
    devices = []
    for item in items:
        device = parse_device(item)
        if device not in devices:
            devices.append(device)
    check_devices(devices)
    return devices


def check_devices(devices: list[str]) -> None:
    """InputError (one line) for the first GPU of `devices` that this machine lacks."""
    for device in devices:
        if is_cuda(device):
            check_cuda_device(device)


@contextlib.contextmanager
def training_context(device: str):
    """Around a training on `device`: on CUDA, that GPU current, deterministic kernels
    (`torch.use_deterministic_algorithms`), float32 products and convolutions without TF32;
    restored after."""
    if not is_cuda(device):
        yield
        return
    import torch

    prepare_device(device)
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False  # the convolutions of v2's synthesis
    try:
        with torch.cuda.device(torch.device(device)):
            yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cuda.matmul.allow_tf32 = previous[2]
        torch.backends.cudnn.allow_tf32 = previous[3]
