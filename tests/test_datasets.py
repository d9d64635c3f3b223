"""Datasets: registry lookup order, verification, folder datasets, download without network."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coolchic_core.errors import InputError
from datasets import REGISTRY, cache_root, open_dataset
from datasets.checksum import sha256_file

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KODAK = SHARED / "datasets" / "kodak"

needs_kodak = pytest.mark.skipif(not KODAK.is_dir(), reason="../shared/datasets/kodak missing")


def _copy(names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(KODAK / f"{name}.png", dest / f"{name}.png")
    return dest


@pytest.mark.skipif(not (KODAK / "SHA256SUMS").is_file(), reason="needs ../shared/datasets/kodak")
def test_registry_sums_match_the_shared_sha256sums():
    listed = {}
    for line in (KODAK / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        listed[name] = digest
    assert dict(REGISTRY["kodak"].sha256) == listed
    assert len(listed) == 24


@needs_kodak
def test_data_dir_is_used_first_and_verified(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "nowhere"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    dataset = open_dataset("kodak", data_dir=KODAK, images=["kodim14", "kodim03.png"], env=env)
    assert dataset.ids == ["kodim14", "kodim03"]
    assert dataset.source == "data-dir"
    assert dataset.images[0].sha256 == sha256_file(KODAK / "kodim14.png")
    assert dataset.images[1].size() == (768, 512)


@needs_kodak
def test_env_vars_then_cache_order(tmp_path):
    in_data_dir = _copy(["kodim01"], tmp_path / "root" / "kodak")
    in_coolchic = _copy(["kodim01"], tmp_path / "other")
    env = {"DATA_DIR": str(tmp_path / "root"), "COOLCHIC_DATA": str(in_coolchic)}
    found = open_dataset("kodak", images=["kodim01"], env=env, download=False)
    assert (found.source, found.root) == ("DATA_DIR", in_data_dir)
    env["DATA_DIR"] = str(tmp_path / "empty")
    found = open_dataset("kodak", images=["kodim01"], env=env, download=False)
    assert (found.source, found.root) == ("COOLCHIC_DATA", in_coolchic)
    cache_env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cached = _copy(["kodim01"], cache_root(cache_env) / "kodak")
    found = open_dataset("kodak", images=["kodim01"], env=cache_env, download=False)
    assert (found.source, found.root) == ("cache", cached)
    assert cached == tmp_path / "xdg" / "coolchic" / "datasets" / "kodak"


@needs_kodak
def test_corrupt_copy_is_refused(tmp_path):
    folder = _copy(["kodim02"], tmp_path / "k")
    (folder / "kodim02.png").write_bytes((KODAK / "kodim03.png").read_bytes())
    with pytest.raises(InputError, match="is not the kodak image kodim02.png"):
        open_dataset("kodak", data_dir=folder, images=["kodim02"], env={})


def test_incomplete_data_dir_and_unknown_names(tmp_path):
    with pytest.raises(InputError, match="does not hold the kodak images: missing kodim05.png"):
        open_dataset("kodak", data_dir=tmp_path, images=["kodim05"], env={})
    with pytest.raises(InputError, match="has no image kodim99"):
        open_dataset("kodak", data_dir=tmp_path, images=["kodim99"], env={})
    with pytest.raises(InputError, match="unknown dataset 'clic-nowhere'"):
        open_dataset("clic-nowhere")


def test_offline_error_tells_how_to_point_at_a_local_copy(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    dead_url = (tmp_path / "no-mirror").as_uri() + "/{file_name}"
    with pytest.raises(InputError) as info:
        open_dataset("kodak", images=["kodim07"], env=env, url_template=dead_url)
    message = str(info.value)
    assert "cannot download" in message and "--data-dir" in message and "DATA_DIR" in message
    assert not list(tmp_path.rglob("*.png"))
    with pytest.raises(InputError, match="not available locally"):
        open_dataset("kodak", images=["kodim07"], env=env, download=False)


@needs_kodak
def test_download_from_file_url_into_cache(tmp_path):
    mirror = _copy(["kodim04", "kodim05"], tmp_path / "mirror")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    template = mirror.as_uri() + "/{file_name}"
    found = open_dataset("kodak", images=["kodim04", "kodim05"], env=env, url_template=template)
    assert found.source == "cache"
    for entry in found.images:
        assert entry.path.parent == tmp_path / "xdg" / "coolchic" / "datasets" / "kodak"
        assert sha256_file(entry.path) == REGISTRY["kodak"].sha256[entry.path.name]
    assert not [p for p in found.root.iterdir() if p.name.startswith(".")]


@needs_kodak
def test_download_over_local_http_refuses_a_wrong_file(tmp_path):
    mirror = _copy(["kodim06"], tmp_path / "mirror")
    shutil.copyfile(KODAK / "kodim09.png", mirror / "kodim08.png")  # wrong content
    handler = functools.partial(_QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        template = f"http://127.0.0.1:{server.server_address[1]}/{{file_name}}"
        env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
        found = open_dataset("kodak", images=["kodim06"], env=env, url_template=template)
        assert found.images[0].sha256 == REGISTRY["kodak"].sha256["kodim06.png"]
        with pytest.raises(InputError, match="expected .* the file was not saved"):
            open_dataset("kodak", images=["kodim08"], env=env, url_template=template)
        with pytest.raises(InputError, match="HTTP 404"):
            open_dataset("kodak", images=["kodim10"], env=env, url_template=template)
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "xdg" / "coolchic" / "datasets" / "kodak" / "kodim08.png").exists()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def test_any_folder_of_images_is_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg", "c.bmp"):
        Image.fromarray(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = open_dataset(str(tmp_path))
    assert dataset.ids == ["a", "b", "c"]
    assert dataset.name == tmp_path.name and dataset.source == "folder"
    assert dataset.get("b").size() == (12, 8)
    assert open_dataset(str(tmp_path), images=["c"]).ids == ["c"]
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="two images .* have the id 'a'"):
        open_dataset(str(tmp_path))


def test_import_does_not_download(tmp_path):
    import subprocess
    import sys

    code = (
        "import urllib.request\n"
        "def refuse(*a, **k):\n    raise SystemExit('network used at import')\n"
        "urllib.request.urlopen = refuse\n"
        "import datasets, datasets.locate, datasets.download\nprint('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    assert out.stdout.strip() == "ok"
