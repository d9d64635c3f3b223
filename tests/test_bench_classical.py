"""`coolchic bench --codec NAME`: classical codecs through the same runner (bench.classical)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from coolchic_core.errors import InputError
from coolchic_core.image_io import read_image, write_png
from coolchic_core.metrics import psnr_db

classical = pytest.importorskip("bench.classical")

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak"
pytestmark = pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crops")
    for name, (top, left) in {"kodim05": (50, 80), "kodim23": (300, 400)}.items():
        image = read_image(KODAK / f"{name}.png")
        write_png(folder / f"{name}.png", image[top : top + 48, left : left + 64])
    return folder


def test_jpeg_rows_measured_from_the_files(crops, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "--codec",
        "jpeg",
        "--dataset",
        str(crops),
        "--qualities",
        "20,80",
        "--workers",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert list(raw.columns[:4]) == ["seq_name", "quality", "rate_bpp", "psnr_db"]
    assert raw.job_id.tolist() == [
        "kodim05-jpeg-q20",
        "kodim05-jpeg-q80",
        "kodim23-jpeg-q20",
        "kodim23-jpeg-q80",
    ]
    for row in raw.itertuples():
        data = (out / "bitstreams" / f"{row.job_id}.bin").read_bytes()
        assert row.rate_bpp == pytest.approx(8 * len(data) / (64 * 48), abs=5e-5)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64) / 255
        original = read_image(crops / f"{row.seq_name}.png").astype(np.float64) / 255
        assert row.psnr_db == pytest.approx(psnr_db(decoded, original), abs=1e-4)
        assert row.codec == "jpeg" and "Pillow" in row.codec_version
    assert (raw.groupby("seq_name").rate_bpp.diff().dropna() > 0).all()
    average = pd.read_csv(out / "average_results.tsv", sep="\t")
    assert list(average.columns[:3]) == ["quality", "rate_bpp", "psnr_db"]
    assert average.quality.tolist() == [20, 80]

    capsys.readouterr()
    assert main(argv) == 0
    assert "done 0, skipped 4, failed 0" in capsys.readouterr().err


def test_default_ladder_and_bad_qualities(crops, tmp_path):
    codec = classical.get_codec("jpeg")
    out = tmp_path / "out"
    argv = [
        "--codec",
        "jpeg",
        "--dataset",
        str(crops),
        "--images",
        "kodim05",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert raw.quality.tolist() == sorted(codec.default_qualities)
    with pytest.raises(InputError):
        main([*argv, "--qualities", "500"])
    with pytest.raises(InputError, match="--lambdas is for COOL-CHIC"):
        main([*argv, "--lambdas", "0.01"])
    with pytest.raises(InputError):
        main(["--codec", "no-such-codec", "--dataset", str(crops), "--out", str(out)])
