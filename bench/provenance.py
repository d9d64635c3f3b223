"""Where results come from: project version, git commit, library versions.

The git commit is read from the repository's `.git` files (HEAD, the branch
ref, or packed-refs) without running git; None when the project is not a
git checkout (e.g. installed from a wheel).
"""

from __future__ import annotations

import socket
from pathlib import Path

import coolchic_core

_REPO_ROOT = Path(__file__).resolve().parents[1]


def project_provenance() -> dict:
    """Version and commit of this checkout, recorded in every result row."""
    return {
        "coolchic_version": coolchic_core.__version__,
        "git_commit": git_commit(_REPO_ROOT),
    }


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
