"""The decoder against the 96 bitstreams published with COOL-CHIC v1."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from coolchic_core import decode_bitstream
from coolchic_core.formats.v1.header import parse_header, write_header
from coolchic_core.image_io import read_image, rgb8_to_float
from coolchic_core.metrics import psnr_db
from coolchic_core.scale_table import scale_table
from tests.conftest import REFERENCE

ALL_NAMES = sorted(path.stem for path in REFERENCE.glob("bitstreams/*.bin"))
FAST_NAMES = [
    f"{image}-lambda{digits}"
    for image in ("kodim01", "kodim19")
    for digits in ("0001", "0005", "004", "02")
]


def test_scale_table_checksum():
    digest = hashlib.sha256(scale_table().astype("<f4").tobytes()).hexdigest()
    assert digest == "c3983965c2fdb62cd2666c953d16e8af30e5766e08e8e6512af55c1cc31095c0"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_header_matches_vectors_and_round_trips(name, reference_dir, vectors):
    data = (reference_dir / "bitstreams" / f"{name}.bin").read_bytes()
    header = parse_header(data)
    expected = vectors[name]["header"]
    assert [header.height, header.width] == expected["img_size"]
    assert list(header.n_bytes_per_latent) == expected["n_bytes_per_latent"]
    assert list(header.layers_arm) == expected["layers_arm"]
    assert list(header.layers_synthesis) == expected["layers_synthesis"]
    assert header.ac_max_val_nn == expected["ac_max_val_nn"]
    assert header.ac_max_val_latent == expected["ac_max_val_latent"]
    assert (
        header.scale_index("synthesis", "weight")
        == expected["scale_index_nn"]["synthesis"]["weight"]
    )
    assert write_header(header) == data[: header.n_bytes_header]


def _check_decoding(name, reference_dir, kodak_dir, vectors):
    expected = vectors[name]
    decoded = decode_bitstream(reference_dir / "bitstreams" / f"{name}.bin")
    for grid, reference in zip(decoded.latents, expected["latent_grids"], strict=True):
        assert list(grid.shape) == reference["shape"]
        digest = hashlib.sha256(grid.astype("<i4").tobytes()).hexdigest()
        assert digest == reference["sha256_int32_le"]
    original = rgb8_to_float(read_image(kodak_dir / f"{expected['image']}.png"))
    published = pd.read_csv(reference_dir / "raw_results.tsv", sep="\t")
    image, digits = name.split("-lambda")
    row = published[(published.seq_name == image) & (published.lmbda == float("0." + digits))]
    assert psnr_db(decoded.image, original) == pytest.approx(expected["psnr_db_float"], abs=1e-3)
    assert psnr_db(decoded.image, original) == pytest.approx(float(row.psnr_db.iloc[0]), abs=1e-3)
    psnr_8bit = psnr_db(rgb8_to_float(decoded.rgb8), original)
    assert psnr_8bit == pytest.approx(expected["psnr_db_8bit"], abs=0.01)
    assert decoded.rate_bpp == pytest.approx(expected["rate_bpp"], abs=1e-12)
    assert decoded.rate_bpp == pytest.approx(float(row.rate_bpp.iloc[0]), abs=1e-4)


@pytest.mark.parametrize("name", FAST_NAMES)
def test_decoding_matches_reference(name, reference_dir, kodak_dir, vectors):
    _check_decoding(name, reference_dir, kodak_dir, vectors)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in FAST_NAMES])
def test_decoding_matches_reference_all(name, reference_dir, kodak_dir, vectors):
    _check_decoding(name, reference_dir, kodak_dir, vectors)


@pytest.mark.parametrize("name", ["kodim01-lambda0001", "kodim19-lambda02"])
def test_8bit_output_matches_original_decoder_pixels(name, reference_dir):
    decoded = decode_bitstream(reference_dir / "bitstreams" / f"{name}.bin")
    reference = read_image(reference_dir / "decoded" / f"{name}.png")
    difference = np.abs(decoded.rgb8.astype(np.int16) - reference.astype(np.int16))
    # Float rounding in upsampling and synthesis may move a sample by one level.
    assert difference.max() <= 1
    assert np.count_nonzero(difference) <= 10
