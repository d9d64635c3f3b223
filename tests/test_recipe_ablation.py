"""bench.recipe_ablation: settings parsing, a tiny run, resume, comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.recipe_ablation import compare, main, parse_setting
from coolchic_core.image_io import write_png
from tests.test_training import kodak_crop


def test_parse_setting_reads_literals_and_strings():
    assert parse_setting("n_itr=2700") == ("n_itr", 2700)
    assert parse_setting("noise_parameter=(2.0, 1.0)") == ("noise_parameter", (2.0, 1.0))
    assert parse_setting("mlp_optimizer=soap") == ("mlp_optimizer", "soap")
    with pytest.raises(ValueError):
        parse_setting("n_itr")


def test_tiny_ablation_runs_with_the_settings_and_resumes(tmp_path, capsys):
    write_png(tmp_path / "img.png", (kodak_crop(32) * 255).round().astype(np.uint8))
    common = ["--out", str(tmp_path / "ab"), "--images", "img", "--data-dir", str(tmp_path)]
    common += ["--preset", "smoke", "--crop", "32", "--set", "impl=torch", "--name", "short"]
    assert main([*common, "--set", "n_itr=20", "--compare", "short"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "ab" / "ablation.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["n_iterations"] for r in rows} == {2 * 5 + 20 + 10}
    assert {r["lmbda"] for r in rows} == {0.0001, 0.0005, 0.004, 0.02}
    for row in rows:  # one fraction per grid, finest first, each in [0, 1]
        assert len(row["latent_nonzero_fraction"]) == 7
        assert all(0.0 <= x <= 1.0 for x in row["latent_nonzero_fraction"])
    assert capsys.readouterr().out.startswith("short: mean ")
    assert main(common) == 0  # resumes: nothing added
    assert len((tmp_path / "ab" / "ablation.jsonl").read_text().splitlines()) == 4


def test_compare_gives_the_bd_rate_of_a_scaled_curve(tmp_path):
    rows = []
    for variant, factor in (("ref", 1.0), ("cheaper", 0.9)):
        for index, lmbda in enumerate((0.0001, 0.0005, 0.004, 0.02)):
            rate, loss = 2.0 / 3**index * factor, 1e-3 * (index + 1)
            row = dict(variant=variant, image="a", lmbda=lmbda, crop=32, rate_bpp=rate)
            rows.append(row | dict(psnr_db=40.0 - 4 * index, loss=loss, ms_per_iteration=5.0))
    (tmp_path / "ablation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = compare(tmp_path, "ref")
    assert lines[0].startswith("cheaper: mean -10.00%") and "dJ +0.0 +0.0 +0.0 +0.0" in lines[0]
    assert lines[1].startswith("ref: mean +0.00%") and "[5.0 ms/it]" in lines[1]


def test_bad_setting_exits_2(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--name", "x", "--set", "no_such_field=1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_format_and_model_changes_reach_the_fit(tmp_path):
    write_png(tmp_path / "img.png", (kodak_crop(32) * 255).round().astype(np.uint8))
    common = ["--out", str(tmp_path / "ab"), "--images", "img", "--data-dir", str(tmp_path)]
    common += ["--preset", "smoke", "--crop", "32", "--lambdas", "0.004", "--set", "n_itr=4"]
    v2 = [*common, "--name", "v2", "--format", "v2", "--model", "layers_arm=(8,)"]
    assert main(v2) == 0
    assert main([*common, "--name", "v1-small", "--model", "layers_synthesis=(4,)"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "ab" / "ablation.jsonl").read_text().splitlines()]
    assert [(r["format"], r["model"]) for r in rows] == [
        ("v2", ["layers_arm=(8,)"]),
        ("v1", ["layers_synthesis=(4,)"]),
    ]
    # v2: ARM 12 -> 8 -> 2 (122), its synthesis; v1: synthesis 7 -> 4 -> 3 (47), ARM 12-12-12-2
    assert rows[1]["n_network_parameters"] == 47 + (12 * 12 + 12) * 2 + 12 * 2 + 2
    assert rows[0]["n_network_parameters"] > (12 * 8 + 8) + (8 * 2 + 2)
    assert main([*common, "--name", "bad", "--model", "no_such_field=1"]) == 2


def test_a_v2_synthesis_is_given_as_layer_tuples(tmp_path):
    write_png(tmp_path / "img.png", (kodak_crop(32) * 255).round().astype(np.uint8))
    argv = ["--out", str(tmp_path / "ab"), "--images", "img", "--data-dir", str(tmp_path)]
    argv += ["--preset", "smoke", "--crop", "32", "--lambdas", "0.004", "--set", "n_itr=4"]
    synthesis = "synthesis=((8,1,False,True),(3,1,False,False),(3,3,True,False))"
    assert main([*argv, "--name", "narrow", "--format", "v2", "--model", synthesis]) == 0
    row = json.loads((tmp_path / "ab" / "ablation.jsonl").read_text())
    # upsampling taps aside: synthesis 7 -> 8 -> 3 (1x1), 3 -> 3 (3x3), ARM 12-16-16-2
    synthesis_parameters = (7 * 8 + 8) + (8 * 3 + 3) + (3 * 3 * 9 + 3)
    arm_parameters = (12 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2)
    assert row["n_network_parameters"] - synthesis_parameters - arm_parameters in range(0, 64)


def test_every_input_is_checked_before_the_first_fit(tmp_path, capsys):
    write_png(tmp_path / "img.png", (kodak_crop(32) * 255).round().astype(np.uint8))
    common = ["--out", str(tmp_path / "ab"), "--data-dir", str(tmp_path), "--name", "x"]
    common += ["--preset", "smoke", "--crop", "32"]
    assert main([*common, "--images", "img,nope"]) == 2
    assert "no such image file" in capsys.readouterr().err
    assert main([*common, "--images", "img", "--lambdas", "0.01,2"]) == 2
    assert "--lambdas must be between 0 and 1" in capsys.readouterr().err
    assert main([*common, "--images", "img", "--threads", "0"]) == 2
    assert "--threads must be between 1" in capsys.readouterr().err
    assert not (tmp_path / "ab" / "ablation.jsonl").exists()


def test_a_torn_last_line_is_fitted_again(tmp_path):
    from bench.recipe_ablation import _done

    row = {"variant": "a", "image": "img", "lmbda": 0.02, "crop": 32}
    path = tmp_path / "ablation.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "lmbda": 0.004})[:20])
    assert _done(path) == {("a", "img", 0.02, 32)}
