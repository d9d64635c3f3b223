"""Where results come from: project version, git commit, libraries, hardware.

Two parts, both recorded in every result row:
- `project_provenance()`, taken once by the bench that plans the jobs: the
  project version, the git commit (read from the repository's `.git` files:
  HEAD, the branch ref, or packed-refs; None when the project is not a git
  checkout, e.g. installed from a wheel) and `git_dirty`, whether tracked
  files differ from that commit (`git status`, None when git is unavailable);
- `runtime_provenance(device, threads)`, taken by the worker that runs a job
  (on a cluster it may be another machine): torch, constriction and numpy
  versions, the CPU model, the GPU name on a CUDA device, and the number of
  torch threads the job actually had.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import coolchic_core
from coolchic_core.devices import cpu_name, device_name, is_cuda

_REPO_ROOT = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 10
LIBRARIES = ("torch", "constriction", "numpy")


def project_provenance() -> dict:
    """Version, commit and modified state of this checkout."""
    return {
        "coolchic_version": coolchic_core.__version__,
        "git_commit": git_commit(_REPO_ROOT),
        "git_dirty": git_dirty(_REPO_ROOT),
    }


def runtime_provenance(device: str | None, threads: int | None) -> dict:
    """Library versions and hardware of the process running a job on `device`."""
    info = {f"{name}_version": library_version(name) for name in LIBRARIES}
    info["cpu_model"] = cpu_name()
    info["gpu_name"] = gpu_name(device)
    info["threads"] = threads if threads is not None else _torch_threads()
    return info


def recipe_sha256(recipe_text: str | None) -> str | None:
    """Short SHA-256 of a job's whole recipe (a preset's or a classical codec's settings)."""
    if recipe_text is None:
        return None
    return hashlib.sha256(recipe_text.encode("utf-8")).hexdigest()[:16]


def git_dirty(repo_root: Path) -> bool | None:
    """True if tracked files of `repo_root` differ from its commit; None if git cannot tell."""
    if _git_dir(repo_root) is None:
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(repo_root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return bool(result.stdout.strip())


@functools.cache
def library_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def gpu_name(device: str | None) -> str | None:
    """The name of CUDA `device` (None on CPU, or if torch cannot say)."""
    if not device or not is_cuda(device):
        return None
    try:
        return device_name(device)
    except (RuntimeError, AssertionError, ValueError):
        return None


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def git_commit(repo_root: Path) -> str | None:
    """The commit checked out in `repo_root`, read from `.git`; None if unknown."""
    git_dir = _git_dir(repo_root)
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    return _resolve_ref(git_dir, head[4:].strip())


def _git_dir(repo_root: Path) -> Path | None:
    dot_git = repo_root / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():  # a worktree: "gitdir: <path>"
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            return (repo_root / text[7:].strip()).resolve()
    return None


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    for base in (git_dir, _common_dir(git_dir)):
        ref_file = base / ref
        if ref_file.is_file():
            return ref_file.read_text().strip() or None
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        return (git_dir / common.read_text().strip()).resolve()
    return git_dir


def host_name() -> str:
    return socket.gethostname()
