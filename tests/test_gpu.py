"""Training on CUDA (marked `gpu`; skipped where torch sees no CUDA GPU).

Run with `make gpu-check` (or `pytest -m gpu`) on a GPU machine.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coolchic_core import decode_bitstream, devices, encode
from coolchic_core.cuda_graphs import StepGraphs
from coolchic_core.image_io import rgb8_to_float
from coolchic_core.metrics import psnr_db
from coolchic_core.model.coolchic import Proxy
from coolchic_core.model.upsampling import separable_bicubic, upsample_cascade
from coolchic_core.presets import ModelConfig, get_preset
from coolchic_core.training import TrainingSession, image_to_target, set_learning_rate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        devices.cuda_device_count() == 0, reason="needs a CUDA GPU (torch sees none here)"
    ),
]
DEVICE = "cuda:0"


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A smooth 128x128 test image (no data files needed on a GPU machine)."""
    rows, cols = np.mgrid[0:128, 0:128] / 128.0
    channels = [np.sin(6 * rows + 2 * cols), np.cos(5 * cols - 3 * rows), np.sin(9 * rows * cols)]
    noise = np.random.default_rng(0).normal(0.0, 0.05, (128, 128, 3))
    image = 0.5 + 0.4 * np.stack(channels, axis=-1) + noise
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def encoded(crop):
    return encode(crop, 0.004, preset="smoke", seed=0, device=DEVICE)


def test_cuda_training_gives_bytes_the_cpu_decodes_to_the_reported_psnr(crop, encoded):
    metrics = encoded.metrics
    assert (metrics["device"], metrics["backend"]) == (DEVICE, "torch-cudagraph")
    assert metrics["device_name"] == torch.cuda.get_device_name(0)
    decoded = decode_bitstream(encoded.bitstream)  # the CPU decoder
    assert psnr_db(decoded.image, rgb8_to_float(crop)) == pytest.approx(metrics["psnr"], abs=1e-4)
    assert metrics["decoder_psnr_db"] == pytest.approx(metrics["psnr"], abs=1e-4)
    flat = np.full(crop.shape, crop.mean() / 255.0, dtype=np.float32)
    assert metrics["psnr"] > psnr_db(flat, rgb8_to_float(crop)) + 3.0  # it trained


def test_v2_trains_on_cuda_and_decodes_on_the_cpu(crop):
    """The second format (convolutional synthesis, learned upsampling) on the GPU."""
    first = encode(crop, 0.004, preset="smoke", seed=1, format="v2", device=DEVICE)
    assert first.metrics["device"] == DEVICE
    decoded = decode_bitstream(first.bitstream)
    assert decoded.format_name == "v2"
    measured = psnr_db(decoded.image, rgb8_to_float(crop))
    assert measured == pytest.approx(first.metrics["psnr"], abs=1e-3)


def test_same_seed_twice_same_bytes_on_the_gpu(crop, encoded):
    assert encode(crop, 0.004, preset="smoke", seed=0, device=DEVICE).bitstream == (
        encoded.bitstream
    )
    eager = [
        encode(crop, 0.004, preset="smoke", seed=0, device=DEVICE, cuda_graphs="off")
        for _ in range(2)
    ]
    assert eager[0].metrics["backend"] == "torch"
    assert eager[0].bitstream == eager[1].bitstream


@pytest.mark.parametrize(("shape_in", "size"), [((3, 96, 64), (192, 128)), ((2, 5, 7), (9, 13))])
def test_separable_upsampling_equals_bicubic_on_cuda(shape_in, size):
    stack = torch.randn(shape_in, generator=torch.Generator().manual_seed(1))
    reference_in = stack.clone().requires_grad_(True)
    reference = F.interpolate(reference_in[None], size=size, mode="bicubic", align_corners=False)
    ours_in = stack.to(DEVICE).requires_grad_(True)
    with devices.training_context(DEVICE):  # deterministic algorithms on: no error
        ours = separable_bicubic(ours_in, size)
        weights = torch.randn(ours.shape, generator=torch.Generator().manual_seed(2))
        ours.backward(weights.to(DEVICE))
    reference[0].backward(weights)
    torch.testing.assert_close(ours.cpu(), reference[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours_in.grad.cpu(), reference_in.grad, rtol=1e-5, atol=1e-5)


def test_cascade_on_cuda_equals_cascade_on_cpu():
    generator = torch.Generator().manual_seed(3)
    grids = [torch.randn(64 // 2**i, 96 // 2**i, generator=generator) for i in range(6)]
    with devices.training_context(DEVICE):
        ours = upsample_cascade([g.to(DEVICE) for g in grids])
    torch.testing.assert_close(ours.cpu(), upsample_cascade(grids), rtol=1e-5, atol=1e-5)


def _session(crop, seed: int) -> TrainingSession:
    cfg = dataclasses.replace(get_preset("smoke"), impl="torch")
    target = image_to_target(rgb8_to_float(crop)).to(DEVICE)
    generator = torch.Generator().manual_seed(seed)
    return TrainingSession(target, 0.004, ModelConfig(), cfg, generator, None, seed=seed)


def _capturable_adam(model):
    """Adam as the graph runs it (capturable, tensor learning rate): the same arithmetic."""
    lr = torch.tensor(1e-2, device=DEVICE)
    return torch.optim.Adam(model.parameters(), lr=lr, capturable=True, foreach=True)


@pytest.mark.parametrize("proxy", [Proxy("noise"), Proxy("softround", 0.25, 2.0), Proxy("ste")])
def test_cuda_graph_step_equals_eager_step(crop, proxy):
    with devices.training_context(DEVICE):
        eager, graphed = _session(crop, 5), _session(crop, 5)
        model = eager.new_model(*crop.shape[:2])
        twin = copy.deepcopy(model)
        graphed.graphs = StepGraphs(graphed)
        optimizer, twin_optimizer = _capturable_adam(model), _capturable_adam(twin)
        for lr in (1e-2, 8e-3, 5e-3, 2e-3, 1e-3):
            set_learning_rate(optimizer, lr)
            expected = eager.train_step(model, optimizer, proxy)
            got = graphed.graphs.step(twin, twin_optimizer, proxy, lr)
            assert graphed.graphs.failed is None
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        assert graphed.graphs.n_captures == 1
        ours = torch.cat([p.detach().flatten() for p in twin.parameters()])
        theirs = torch.cat([p.detach().flatten() for p in model.parameters()])
        # Adam's first steps are about lr * sign(gradient): a gradient within rounding of 0
        # may flip; all but a few of the values must agree.
        close = torch.isclose(ours, theirs, rtol=1e-3, atol=1e-5)
        assert close.float().mean().item() > 0.999
