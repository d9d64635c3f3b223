"""The kernel build cache: keyed by sources, flags, torch and CPU; never loads a foreign build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coolchic_core.kernels import FUSED_TRAINING, KERNELS
from coolchic_core.kernels import build as kb

V4_FLAGS = frozenset(kb.ISA_LEVELS[0].required_flags | {"fpu", "sse", "sse2"})
V3_FLAGS = frozenset(kb.ISA_LEVELS[1].required_flags | {"fpu", "sse", "sse2"})
OLD_FLAGS = frozenset({"fpu", "sse", "sse2"})


def key(**changes):
    fields = dict(
        source_sha256="a" * 64,
        cflags=("-O3",),
        torch_version="2.0.0",
        cpu_flags=V3_FLAGS,
        machine="x86_64",
        python_version="3.11.0",
    )
    fields.update(changes)
    return kb.cache_key(**fields)


@pytest.mark.parametrize(
    "change",
    [
        {"source_sha256": "b" * 64},
        {"cflags": ("-O2",)},
        {"torch_version": "2.1.0"},
        {"cpu_flags": V3_FLAGS | {"avx512f"}},
        {"cpu_flags": V3_FLAGS - {"avx2"}},
        {"machine": "aarch64"},
        {"python_version": "3.12.0"},
    ],
)
def test_the_key_changes_with_every_input(change):
    assert key(**change) != key()


def test_the_key_does_not_depend_on_flag_order():
    assert key(cpu_flags=frozenset(sorted(V3_FLAGS, reverse=True))) == key()


@pytest.mark.parametrize(
    ("flags", "machine", "level"),
    [
        (V4_FLAGS, "x86_64", "x86-64-v4"),
        (V3_FLAGS, "x86_64", "x86-64-v3"),
        (V3_FLAGS - {"fma"}, "x86_64", "x86-64-v2"),
        (OLD_FLAGS, "x86_64", "generic"),
        (frozenset(), "x86_64", "generic"),
        (V4_FLAGS, "aarch64", "generic"),
    ],
)
def test_the_isa_level_follows_the_cpu_flags(flags, machine, level):
    chosen = kb.choose_isa(flags, machine)
    assert chosen.name == level
    assert not any("native" in flag for flag in chosen.cflags)


@pytest.mark.parametrize(
    ("flags", "ceilings", "level"),
    [
        (V4_FLAGS, ("x86-64-v3",), "x86-64-v3"),
        (V3_FLAGS, ("x86-64-v4",), "x86-64-v3"),
        (V4_FLAGS, ("x86-64-v4", "x86-64-v2"), "x86-64-v2"),
        (V4_FLAGS, (None, "generic"), "generic"),
        (V3_FLAGS - {"fma"}, ("x86-64-v3",), "x86-64-v2"),
    ],
)
def test_a_ceiling_caps_the_level_and_never_raises_it(flags, ceilings, level):
    assert kb.choose_isa(flags, "x86_64", *ceilings).name == level


def test_the_environment_caps_every_kernel(tmp_path, monkeypatch):
    from coolchic_core.kernels import LATENT_DECODER

    assert LATENT_DECODER.max_isa == "x86-64-v3"
    assert kb.variant(LATENT_DECODER, V4_FLAGS, "x86_64", tmp_path).isa.name == "x86-64-v3"
    assert kb.variant(FUSED_TRAINING, V4_FLAGS, "x86_64", tmp_path).isa.name == "x86-64-v4"
    monkeypatch.setenv(kb.ISA_VARIABLE, "x86-64-v2")
    for kernel in (LATENT_DECODER, FUSED_TRAINING):
        assert kb.variant(kernel, V4_FLAGS, "x86_64", tmp_path).isa.name == "x86-64-v2"
    monkeypatch.setenv(kb.ISA_VARIABLE, "avx9000")
    with pytest.raises(ValueError, match="unknown instruction set level 'avx9000'"):
        kb.variant(FUSED_TRAINING, V4_FLAGS, "x86_64", tmp_path)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n\nprocessor\t: 1\n")
    assert kb.read_cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2"}
    assert kb.read_cpu_flags(tmp_path / "missing") == frozenset()


def test_variants_for_two_cpus_live_in_two_folders(tmp_path):
    v4 = kb.variant(FUSED_TRAINING, V4_FLAGS, "x86_64", tmp_path)
    v3 = kb.variant(FUSED_TRAINING, V3_FLAGS, "x86_64", tmp_path)
    assert v4.key != v3.key and v4.directory != v3.directory
    assert v4.module_name != v3.module_name
    assert "-march=x86-64-v4" in v4.cflags and "-march=x86-64-v3" in v3.cflags


def test_the_key_follows_the_source_file(tmp_path, monkeypatch):
    source = tmp_path / "k.cpp"
    source.write_text("int f() { return 1; }\n")
    kernel = kb.Kernel("k", ("k.cpp",))
    monkeypatch.setattr(kb, "SOURCE_DIR", tmp_path)
    before = kb.variant(kernel, V3_FLAGS, "x86_64", tmp_path).key
    source.write_text("int f() { return 2; }\n")
    assert kb.variant(kernel, V3_FLAGS, "x86_64", tmp_path).key != before


def fake_build(build):
    build.directory.mkdir(parents=True)
    (build.directory / f"{build.module_name}.so").write_bytes(b"not a library")
    (build.directory / kb.MANIFEST_NAME).write_text(json.dumps(build.describe()))


def test_a_build_is_found_only_under_its_own_key(tmp_path):
    mine = kb.variant(FUSED_TRAINING, V3_FLAGS, "x86_64", tmp_path)
    assert kb.built_library(mine) is None
    fake_build(mine)
    assert kb.built_library(mine) == mine.directory / f"{mine.module_name}.so"
    other = kb.variant(FUSED_TRAINING, V4_FLAGS, "x86_64", tmp_path)
    assert kb.built_library(other) is None


def test_a_foreign_build_in_my_folder_is_never_loaded(tmp_path):
    mine = kb.variant(FUSED_TRAINING, V3_FLAGS, "x86_64", tmp_path)
    foreign = kb.variant(FUSED_TRAINING, V4_FLAGS, "x86_64", tmp_path)
    fake_build(foreign)
    shutil.copytree(foreign.directory, mine.directory)  # e.g. a cache copied between machines
    (mine.directory / f"{foreign.module_name}.so").rename(mine.directory / f"{mine.module_name}.so")
    assert kb.built_library(mine) is None
    (mine.directory / kb.MANIFEST_NAME).write_text("{not json")
    assert kb.built_library(mine) is None


def test_every_kernel_source_ships_in_the_package():
    for kernel in KERNELS:
        for name in (*kernel.sources, *kernel.headers):
            assert (kb.SOURCE_DIR / name).is_file()


def test_build_kernels_reports_the_variant_of_this_cpu(capsys):
    from coolchic_cli.build_kernels import main
    from coolchic_core.model.fused import load

    if load() is None:
        pytest.skip("no C++ compiler")
    assert main([]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kernel"] for r in reports] == [k.name for k in KERNELS]
    for report in reports:
        assert report["built"] and report["key"] in (report["path"] + report["key"])
        assert kb.built_library(kb.variant(next(k for k in KERNELS if k.name == report["kernel"])))


def test_without_a_compiler_the_build_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    build = kb.variant(FUSED_TRAINING, V3_FLAGS, "x86_64", tmp_path)
    with pytest.raises(FileNotFoundError, match="no C\\+\\+ compiler"):
        kb._compile(build)
    assert not build.directory.exists()


@pytest.mark.slow
@pytest.mark.parametrize("level", ["x86-64-v3", "x86-64-v2"])
def test_kernels_of_narrower_vectors_pass_the_kernel_tests(level):
    """The kernels are written for 16, 8 or 4 float lanes (simd.h): a CPU below this
    one's level builds the narrower ones, which must compute the same."""
    import os
    import platform
    import subprocess
    import sys

    required = next(isa for isa in kb.ISA_LEVELS if isa.name == level).required_flags
    if platform.machine() != "x86_64" or not required <= kb.read_cpu_flags():
        pytest.skip(f"this CPU cannot run {level} code")
    tests = [
        "tests/test_training_fused.py",
        "tests/test_training_fused_v2.py",
        "tests/test_native_decoding.py",
        "tests/test_format_v2.py",
        "tests/test_decoder_reference.py",
    ]
    env = {**os.environ, kb.ISA_VARIABLE: level}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"fused_training {level}" in result.stdout
