"""The encoder end to end (smoke preset, small images): bytes, metrics, CLI, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from coolchic_cli import main
from coolchic_core import InputError, decode_bitstream, encode
from coolchic_core.image_io import read_image, rgb8_to_float
from coolchic_core.metrics import psnr_db


@pytest.fixture(scope="module")
def crop(kodak_dir) -> np.ndarray:
    return read_image(kodak_dir / "kodim23.png")[200:328, 300:428]


@pytest.fixture(scope="module")
def encoded(crop):
    return encode(crop, 0.004, preset="smoke", seed=0)


def test_decoder_gets_what_the_encoder_reports(crop, encoded):
    decoded = decode_bitstream(encoded.bitstream)
    metrics = encoded.metrics
    original = rgb8_to_float(crop)
    assert psnr_db(decoded.image, original) == pytest.approx(metrics["psnr"], abs=0.05)
    assert metrics["decoder_psnr_db"] == pytest.approx(metrics["psnr"], abs=0.05)
    assert metrics["decoder_rate_bpp"] == pytest.approx(decoded.rate_bpp)
    header_bpp = 8 * decoded.header.n_bytes_header / original.shape[0] / original.shape[1]
    estimate = metrics["rate_all_bpp"] + header_bpp
    assert estimate == pytest.approx(metrics["decoder_rate_bpp"], rel=0.03)
    assert metrics["rate_all_bpp"] == pytest.approx(
        metrics["rate_latent_bpp"] + metrics["rate_mlp_bpp"]
    )


def test_same_seed_same_bytes_other_seed_other_bytes(crop, encoded):
    assert encode(crop, 0.004, preset="smoke", seed=0).bitstream == encoded.bitstream
    assert encode(crop, 0.004, preset="smoke", seed=1).bitstream != encoded.bitstream


def test_higher_lambda_gives_lower_rate(crop, encoded):
    cheap = encode(crop, 0.05, preset="smoke", seed=0)
    assert cheap.metrics["decoder_rate_bpp"] < encoded.metrics["decoder_rate_bpp"]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 1), (1, 40), (70, 3), (33, 65)])
def test_unusual_sizes_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    result = encode(image, 0.001, preset="smoke", n_itr=4, n_trial_warmup=1)
    decoded = decode_bitstream(result.bitstream)
    assert decoded.image.shape == (*shape, 3)
    assert result.metrics["decoder_psnr_db"] == pytest.approx(result.metrics["psnr"], abs=1e-6)


def test_other_architecture_round_trips(crop):
    from coolchic_core.presets import ModelConfig

    config = ModelConfig(latent_n_grids=4, layers_synthesis=(8,), layers_arm=(6, 6), n_ctx_rowcol=1)
    result = encode(crop[:40, :56], 0.002, preset="smoke", model_config=config)
    decoded = decode_bitstream(result.bitstream)
    assert decoded.header.latent_n_grids == 4 and decoded.header.layers_arm == (6, 6)
    assert result.metrics["decoder_psnr_db"] == pytest.approx(result.metrics["psnr"], abs=1e-6)


def test_bad_arguments_raise_input_error(crop):
    with pytest.raises(InputError):
        encode(crop, 0.0, preset="smoke")
    with pytest.raises(InputError):
        encode(crop, 0.01, preset="no-such-preset")
    with pytest.raises(InputError):
        encode(np.zeros((4, 4), dtype=np.uint8), 0.01, preset="smoke")


def test_cli_encode_writes_everything(tmp_path, crop, capsys):
    source = tmp_path / "odd.png"
    Image.fromarray(crop[:45, :77]).save(source)
    paths = {name: tmp_path / name for name in ("out.bin", "dec.png", "model.pt", "res.txt")}
    status = main(
        [
            "encode",
            "-i",
            str(source),
            "-o",
            str(paths["out.bin"]),
            "--lmbda",
            "0.002",
            "--preset",
            "smoke",
            "--quiet",
            "--decoded_img_path",
            str(paths["dec.png"]),
            "--model_save_path",
            str(paths["model.pt"]),
            "--enc_results_path",
            str(paths["res.txt"]),
            "--threads",
            "1",
        ]
    )
    assert status == 0
    header, values = paths["res.txt"].read_text().splitlines()
    assert header == (
        "psnr,rate_latent_bpp,rate_mlp_bpp,rate_all_bpp,training_time_second,"
        "n_iteration,decoder_rate_bpp,decoder_psnr_db,device,device_name,backend"
    )
    texts = dict(zip(header.split(","), values.split(","), strict=True))
    assert texts.pop("device") == ("cuda:0" if torch.cuda.is_available() else "cpu")  # auto
    assert texts.pop("device_name")
    assert texts.pop("backend") in ("fused-cpp", "torch", "torch-cudagraph")
    fields = {name: float(value) for name, value in texts.items()}
    decoded = decode_bitstream(paths["out.bin"])
    assert fields["decoder_rate_bpp"] == pytest.approx(decoded.rate_bpp)
    assert fields["decoder_psnr_db"] == pytest.approx(
        psnr_db(decoded.image, rgb8_to_float(crop[:45, :77])), abs=1e-4
    )
    assert np.array_equal(read_image(paths["dec.png"]), decoded.rgb8)
    assert main(["decode", "-i", str(paths["out.bin"]), "-o", str(tmp_path / "d2.png")]) == 0
    assert np.array_equal(read_image(tmp_path / "d2.png"), decoded.rgb8)
    state = torch.load(paths["model.pt"], weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    assert "psnr" in capsys.readouterr().out


def _cli_error(tmp_path, capsys, args) -> str:
    output = tmp_path / "never.bin"
    status = main(["encode", "-o", str(output), "--preset", "smoke", "--quiet", *args])
    err = capsys.readouterr().err
    assert status == 2 and not output.exists()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert "no such image" in _cli_error(tmp_path, capsys, ["-i", str(tmp_path / "none.png")])
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert "cannot read" in _cli_error(tmp_path, capsys, ["-i", str(tmp_path / "junk.png")])
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert "transparent" in _cli_error(tmp_path, capsys, ["-i", str(tmp_path / "alpha.png")])
    Image.fromarray(rgba[:, :, :3]).save(tmp_path / "ok.png")
    assert "lmbda" in _cli_error(
        tmp_path, capsys, ["-i", str(tmp_path / "ok.png"), "--lmbda", "-1"]
    )
    assert "preset" in _cli_error(
        tmp_path, capsys, ["-i", str(tmp_path / "ok.png"), "--preset", "nope"]
    )


def test_image_modes_follow_the_documented_rules(tmp_path):
    gray16 = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    rgb = read_image(tmp_path / "g16.png")
    assert rgb.shape == (8, 8, 3) and rgb[0, 1, 0] == round(1000 / 257)
    Image.fromarray(np.full((4, 4), 7, dtype=np.uint8)).convert("P").save(tmp_path / "p.png")
    assert (read_image(tmp_path / "p.png") == 7).all()
    opaque = np.full((4, 4, 4), 255, dtype=np.uint8)
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").shape == (4, 4, 3)


@pytest.mark.parametrize("layers_arm", [(2, 2), (12, 12)])
def test_decoded_latents_are_the_trained_ones(crop, layers_arm):
    from coolchic_core.presets import ModelConfig

    config = ModelConfig(layers_arm=layers_arm)
    result = encode(crop[:32, :48], 0.002, preset="smoke", model_config=config)
    for sent, decoded in zip(result.fit.latents_int, result.decoded.latents, strict=True):
        assert np.array_equal(np.asarray(sent), decoded)


def test_cli_refuses_bad_outputs_and_models_before_training(tmp_path, crop, capsys):
    source = tmp_path / "in.png"
    Image.fromarray(crop[:16, :16]).save(source)
    (tmp_path / "folder").mkdir()
    os_fifo = tmp_path / "fifo"
    import os

    os.mkfifo(os_fifo)
    cases = [
        (["-i", str(source), "-o", str(tmp_path / "folder")], "not a regular file"),
        (["-i", str(source), "-o", str(os_fifo)], "not a regular file"),
        (["-i", str(source), "-o", str(source)], "same file"),
        (
            [
                "-i",
                str(source),
                "-o",
                str(tmp_path / "a.bin"),
                "--enc_results_path",
                str(tmp_path / "a.bin"),
            ],
            "same file",
        ),
        (
            ["-i", str(source), "-o", str(tmp_path / "a.bin"), "--layers_synthesis", "12,8"],
            "one width",
        ),
        (["-i", str(source), "-o", str(tmp_path / "a.bin"), "--layers_arm", "65"], "maximum"),
        (["-i", str(source), "-o", str(tmp_path / "a.bin"), "--threads", "0"], "threads"),
        (["-i", str(source), "-o", str(tmp_path / "a.bin"), "--start_lr", "inf"], "start_lr"),
        (["-i", str(source), "-o", str(tmp_path / "a.bin"), "--seed", str(2**64)], "seed"),
        (["-i", str(source), "-o", str(tmp_path / "a.bin"), "--threads", "99999"], "threads"),
        # A folder where no file can be created: found before training, not after.
        (["-i", str(source), "-o", "/proc/coolchic-test.bin"], "cannot write"),
        (
            ["-i", str(source), "-o", str(tmp_path / "a.bin"), "--decoded_img_path", "d.jpg"],
            "name it *.png",
        ),
    ]
    for args, word in cases:
        status = main(["encode", "--preset", "smoke", "--quiet", *args])
        err = capsys.readouterr().err
        assert status == 2 and word in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "a.bin").exists()
    assert read_image(source).shape == (16, 16, 3)


def test_a_failed_output_leaves_every_earlier_file_as_it_was(tmp_path, crop, monkeypatch):
    from coolchic_cli import encode_command
    from coolchic_core import atomic_io

    source = tmp_path / "in.png"
    Image.fromarray(crop[:16, :16]).save(source)
    bitstream = tmp_path / "a.bin"
    bitstream.write_bytes(b"the bitstream of an earlier run")
    results = tmp_path / "a.txt"
    real_write = atomic_io._write_temporary

    def full_disk_for_the_results(target, data):
        if target == results:
            raise atomic_io.InputError(f"cannot write {target}: No space left on device")
        return real_write(target, data)

    monkeypatch.setattr(atomic_io, "_write_temporary", full_disk_for_the_results)
    args = ["-i", str(source), "-o", str(bitstream), "--enc_results_path", str(results)]
    with pytest.raises(atomic_io.InputError, match="No space left"):
        encode_command.main([*args, "--preset", "smoke", "--quiet", "--n_itr", "2"])
    assert bitstream.read_bytes() == b"the bitstream of an earlier run"
    assert not results.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "in.png"]


def test_decompression_bomb_is_refused_before_decoding(tmp_path, capsys):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    status = main(
        [
            "encode",
            "-i",
            str(tmp_path / "bomb.png"),
            "-o",
            str(tmp_path / "b.bin"),
            "--preset",
            "smoke",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
