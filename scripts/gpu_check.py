"""`make gpu-check`: the CUDA path checked in one run on a GPU machine (under 5 minutes, one H200).

For a machine whose Python already has a CUDA build of torch and no internet:

1. installs what is missing without touching torch: wheels from WHEELS
   (default .gpu-wheels, filled by `make gpu-wheels` where there is internet)
   with --no-deps into a private folder, then the project itself (pip -e,
   --no-deps, --no-index); torch's version must be the same afterwards;
2. runs the tests marked `gpu` (tests/test_gpu.py; a skip counts as a failure
   here) and the device tests that run on any machine;
3. encodes a 768x512 Kodak image on cuda:0 with the smoke and fast presets and
   checks that each bitstream decodes on the CPU to the PSNR the encoder reported;
4. times the training step (bench.encode_speed, eager and CUDA graph) and
   checks the graph's median against 3 ms per iteration;
5. runs `coolchic bench --devices auto --jobs-per-gpu 2` on two lambdas of a
   256x256 crop (both encodes at once on the GPU; rows name the device);
6. checks that a GPU this machine lacks exits 2 with one line and no file.

Prints PASS/FAIL per check and ends with the line `N passed, M failed` (exit
1 if any failed). Without a CUDA GPU it prints why it skips and exits 0.
Run: `python scripts/gpu_check.py [--python PY] [--wheels DIR] [--kodak DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 290.0  # the whole run, under the 5 minutes the check is sized for
TARGET_MS_PER_ITERATION = 3.0
IMAGE = "kodim01.png"  # 768x512
PSNR_TOLERANCE_DB = 1e-4


class Checks:
    """PASS/FAIL lines and their count; every step gets what is left of the budget."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s
        self.passed = 0
        self.failed = 0

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.passed += ok
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    def left_s(self, at_most: float) -> float:
        return max(5.0, min(at_most, self.deadline - time.monotonic()))

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def run(command: list[str], timeout_s: float, env: dict | None = None):
    """(returncode, stdout + stderr); 124 and the partial output on a timeout."""
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s
        )
        return done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"") + (exc.stderr or b"")
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        return 124, text + f"\n(timed out after {timeout_s:.0f} s)"


def tail(text: str, n_lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n_lines:])


MARK = "GPU_CHECK_VALUE="


def python_value(python: str, code: str, timeout_s: float, env: dict | None = None):
    """(returncode, the JSON value that `code` prints after MARK, or the output if none)."""
    rc, output = run([python, "-c", code], timeout_s, env)
    for line in reversed(output.splitlines()):  # warnings on stderr may follow
        if line.startswith(MARK):
            return rc, json.loads(line[len(MARK) :])
    return (rc if rc != 0 else 1), output


def cuda_status(python: str) -> tuple[bool, str]:
    code = (
        "import json, torch; print('" + MARK + "' + json.dumps([torch.__version__, "
        "torch.version.cuda, torch.cuda.device_count() if torch.cuda.is_available() else 0]))"
    )
    rc, value = python_value(python, code, 120)
    if rc != 0:
        return False, f"{python} cannot import torch ({tail(str(value), 1)})"
    version, cuda, count = value
    if cuda is None:
        return False, f"torch {version} was built without CUDA"
    if count == 0:
        return False, f"torch {version} (CUDA {cuda}) sees no GPU"
    return True, f"torch {version}, CUDA {cuda}, {count} GPU(s)"


def torch_version(python: str) -> str:
    code = "import json, torch; print('" + MARK + "' + json.dumps(torch.__version__))"
    return str(python_value(python, code, 120)[1])


def install(checks: Checks, python: str, wheels: Path, site: Path, env: dict) -> None:
    """Missing wheels into `site` (no dependencies, no index), then the project, torch untouched."""
    before = torch_version(python)
    rc, _ = run([python, "-c", "import constriction"], 60, env)
    if rc != 0:
        found = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
        if not found:
            checks.record("wheels", False, f"constriction missing and no wheels in {wheels}")
        else:
            pip = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
            command = [*pip, "--no-compile", "--target", str(site), *map(str, found)]
            rc, out = run(command, checks.left_s(120), env)
            names = ", ".join(w.name for w in found)
            checks.record("wheels", rc == 0, names if rc == 0 else tail(out))
    pip = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation"]
    rc, out = run([*pip, "-e", str(REPO)], checks.left_s(120), env)
    checks.record("install project (pip -e, --no-deps)", rc == 0, "" if rc == 0 else tail(out, 5))
    after = torch_version(python)
    checks.record("torch untouched", after == before, f"{before} -> {after}")


def pytest_counts(junit: Path) -> tuple[int, int, int, list[str]]:
    """(passed, failed or errors, skipped, names of the failed) from a junit XML file."""
    if not junit.is_file():
        return 0, 1, 0, ["(no junit report)"]
    passed = failed = skipped = 0
    names = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = {child.tag for child in case}
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if outcome & {"failure", "error"}:
            failed += 1
            names.append(name)
        elif "skipped" in outcome:
            skipped += 1
            names.append(name + " (skipped)")
        else:
            passed += 1
    return passed, failed, skipped, names


def run_tests(checks: Checks, python: str, env: dict, out: Path) -> None:
    """Every gpu test must pass (a skip is a failure here); the device tests on any machine too."""
    suites = [
        ("gpu tests", ["tests/test_gpu.py", "-m", "gpu"], True),
        ("device tests", ["tests/test_devices.py", "tests/test_upsampling.py"], False),
    ]
    for label, arguments, skips_fail in suites:
        junit = out / f"junit-{label.replace(' ', '-')}.xml"
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments]
        rc, output = run([*command, f"--junitxml={junit}"], checks.left_s(150), env)
        passed, failed, skipped, names = pytest_counts(junit)
        bad = failed + (skipped if skips_fail else 0)
        detail = f"{passed} passed, {failed} failed, {skipped} skipped"
        if bad or rc not in (0, 5):
            checks.record(label, False, detail + "\n" + "\n".join(names) + "\n" + tail(output))
        else:
            checks.record(label, True, detail)


def encode_and_decode(checks: Checks, python: str, env: dict, image: Path, preset: str, out: Path):
    """Encode on cuda:0 with the CLI; decode on the CPU; PSNR as reported, device as asked."""
    bitstream, results = out / f"{preset}.bin", out / f"{preset}.txt"
    command = [python, "-m", "coolchic_cli", "encode", "-i", str(image), "-o", str(bitstream)]
    options = ["--preset", preset, "--device", "cuda:0", "--lmbda", "0.001", "--quiet"]
    start = time.monotonic()
    options += ["--enc_results_path", str(results)]
    rc, output = run([*command, *options], checks.left_s(200), env)
    elapsed_s = time.monotonic() - start
    if rc != 0 or not results.is_file():
        return checks.record(f"encode {preset} on cuda:0", False, tail(output))
    header, values = results.read_text().splitlines()[:2]
    metrics = dict(zip(header.split(","), values.split(","), strict=True))
    verify = (
        "import json; from coolchic_core import decode_bitstream; "
        "from coolchic_core.image_io import read_image, rgb8_to_float; "
        f"from coolchic_core.metrics import psnr_db; d = decode_bitstream({str(bitstream)!r}); "
        f"psnr = psnr_db(d.image, rgb8_to_float(read_image({str(image)!r}))); "
        "print('" + MARK + "' + json.dumps({'psnr_db': psnr, 'rate_bpp': d.rate_bpp}))"
    )
    cpu_env = {**env, "CUDA_VISIBLE_DEVICES": ""}  # the CPU decoder, no GPU in sight
    rc, decoded = python_value(python, verify, checks.left_s(120), cpu_env)
    if rc != 0:
        return checks.record(f"decode {preset} on the CPU", False, tail(str(decoded)))
    reported = float(metrics["psnr"])
    ok = abs(decoded["psnr_db"] - reported) <= PSNR_TOLERANCE_DB
    ok = ok and metrics.get("device") == "cuda:0"
    detail = (
        f"{elapsed_s:.0f} s, {metrics.get('n_iteration')} iterations, device "
        f"{metrics.get('device')} ({metrics.get('device_name')}), "
        f"backend {metrics.get('backend')}, "
        f"reported {reported:.4f} dB, CPU decode {decoded['psnr_db']:.4f} dB, "
        f"{decoded['rate_bpp']:.4f} bpp"
    )
    return checks.record(f"encode {preset} on cuda:0, decode on the CPU", ok, detail)


def speed(checks: Checks, python: str, env: dict, image: Path) -> None:
    command = [python, "-m", "bench.encode_speed", "--image", str(image), "--device", "cuda:0"]
    options = ["--n-itr", "100", "--runs", "5", "--warmup", "20", "--threads", "4"]
    rc, output = run([*command, *options], checks.left_s(120), env)
    values = dict(re.findall(r"^(encode_ms_per_iteration\w*)=([0-9.]+)$", output, re.MULTILINE))
    for line in output.splitlines():
        if line.startswith(("device=", "encode_ms", "cuda_graph_failed", "peak_gpu")):
            print(f"  {line}")
    if rc != 0 or "encode_ms_per_iteration_graph" not in values:
        checks.record("speed: CUDA graph step timed", False, tail(output))
        return
    graph_ms = float(values["encode_ms_per_iteration_graph"])
    eager_ms = float(values.get("encode_ms_per_iteration_eager", "nan"))
    detail = f"eager {eager_ms:.3f} ms, graph {graph_ms:.3f} ms per iteration at 768x512"
    checks.record(f"speed: graph step <= {TARGET_MS_PER_ITERATION} ms", graph_ms <= 3.0, detail)


def bench_on_gpus(checks: Checks, python: str, env: dict, image: Path, out: Path) -> None:
    """The bench with --devices auto: two encodes at once on cuda:0, rows with the device."""
    dataset, results = out / "crops", out / "bench"
    crop = (
        "from PIL import Image; import sys; "
        "Image.open(sys.argv[1]).crop((256, 128, 512, 384)).save(sys.argv[2])"
    )
    dataset.mkdir()
    run([python, "-c", crop, str(image), str(dataset / "crop01.png")], 60, env)
    command = [python, "-m", "coolchic_cli", "bench", "--dataset", str(dataset), "--out"]
    options = ["--preset", "smoke", "--lambdas", "0.004,0.02", "--devices", "auto"]
    options += ["--jobs-per-gpu", "2", "--no-progress"]
    rc, output = run([*command, str(results), *options], checks.left_s(120), env)
    rows = [json.loads(path.read_text()) for path in sorted((results / "rows").glob("*.json"))]
    seen = {(r.get("status"), r.get("device"), bool(r.get("device_name"))) for r in rows}
    ok = rc == 0 and len(rows) == 2 and seen == {("ok", "cuda:0", True)}
    names = sorted({str(r.get("device_name")) for r in rows})
    detail = f"rc {rc}, {len(rows)} rows, (status, device, named): {sorted(seen)}, {names}"
    checks.record(
        "bench --devices auto --jobs-per-gpu 2", ok, detail if ok else detail + "\n" + tail(output)
    )


def missing_gpu(checks: Checks, python: str, env: dict, image: Path, out: Path) -> None:
    code = "import json, torch; print('" + MARK + "' + json.dumps(torch.cuda.device_count()))"
    device = f"cuda:{python_value(python, code, 60, env)[1]}"
    target = out / "missing.bin"
    command = [python, "-m", "coolchic_cli", "encode", "-i", str(image), "-o", str(target)]
    rc, output = run([*command, "--device", device], checks.left_s(60), env)
    lines = output.strip().splitlines()
    ok = rc == 2 and len(lines) == 1 and "no CUDA device" in lines[0] and not target.exists()
    checks.record(f"--device {device} exits 2 with one line", ok, f"rc {rc}: {tail(output, 3)}")


def find_image(kodak: Path | None) -> Path | None:
    candidates = [kodak] if kodak else []
    candidates += [REPO / ".gpu-wheels" / "kodak", REPO.parent / "shared" / "datasets" / "kodak"]
    for folder in candidates:
        if folder and (folder / IMAGE).is_file():
            return folder / IMAGE
    return None


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.py", description=summary)
    parser.add_argument("--python", default=os.environ.get("PYTHON", sys.executable))
    parser.add_argument("--wheels", type=Path, default=REPO / ".gpu-wheels")
    parser.add_argument("--kodak", type=Path, help="folder holding kodim01.png")
    args = parser.parse_args(argv)
    ok, status = cuda_status(args.python)
    if not ok:
        print(f"gpu-check: skipped: {status}; run it on a machine with a CUDA GPU")
        return 0
    print(f"gpu-check: {status}", flush=True)
    checks = Checks(BUDGET_S)
    out = Path(tempfile.mkdtemp(prefix="coolchic-gpu-check-"))
    site = out / "site"
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(site), env.get("PYTHONPATH", "")])
    try:
        install(checks, args.python, args.wheels, site, env)
        run_tests(checks, args.python, env, out)
        image = find_image(args.kodak)
        if image is None:
            checks.record("Kodak image", False, f"{IMAGE} not found (give --kodak DIR)")
        else:
            encode_and_decode(checks, args.python, env, image, "smoke", out)
            speed(checks, args.python, env, image)
            bench_on_gpus(checks, args.python, env, image, out)
            encode_and_decode(checks, args.python, env, image, "fast", out)
            missing_gpu(checks, args.python, env, image, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(checks.summary())
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
