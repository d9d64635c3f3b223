"""The training step replayed as a CUDA graph: one launch per iteration instead of hundreds.

At 768x512 an eager training step launches several hundred small kernels and
is bound by their launch cost, not by the GPU. `StepGraphs.step` captures
`TrainingSession.train_step` (forward, backward, gradient clipping, Adam) once
per (model, optimizer, proxy mode) with `torch.cuda.CUDAGraph`, then replays it.
What changes from one iteration to the next lives in static tensors refilled
before each replay: the uniform noise (drawn from the session's CUDA generator
in the order the eager step draws it, so both give the same numbers), the
learning rate (Adam with `capturable=True` and a tensor learning rate), the
soft-rounding temperature and the noise parameter.

Capturing runs a few warm-up steps first (torch's recipe: side stream, lazy
initialisation outside the capture); the parameters and the optimizer state
are put back afterwards, so a capture leaves the training where it was. If a
capture or a replay fails, the error is logged and training goes on eagerly
(`failed` says why; the session's backend then reads "torch").
"""

from __future__ import annotations

import logging

import torch

from coolchic_core.model.coolchic import Proxy

logger = logging.getLogger(__name__)

WARMUP_STEPS = 3
_NOISY_MODES = ("noise", "softround")


class StepGraphs:
    """The captured steps of the current (model, optimizer), one per proxy mode."""

    def __init__(self, session) -> None:
        self.session = session
        self.owner: tuple | None = None
        self.captured: dict[str, CapturedStep] = {}
        self.failed: str | None = None
        self.n_captures = 0

    def step(self, model, optimizer, proxy: Proxy, lr: float):
        """One training iteration; (loss, mse, rate_bits) tensors."""
        from coolchic_core.training import set_learning_rate

        if self.failed is None:
            try:
                return self._captured_step(model, optimizer, proxy.mode).replay(proxy, lr)
            except Exception as exc:  # noqa: BLE001 - any capture failure falls back to eager
                self._fall_back(exc)
        set_learning_rate(optimizer, lr)
        return self.session.train_step(model, optimizer, proxy)

    def _captured_step(self, model, optimizer, mode: str) -> CapturedStep:
        if self.owner is None or self.owner[0] is not model or self.owner[1] is not optimizer:
            self.captured.clear()  # the graphs of a finished phase or trial are freed
            self.owner = (model, optimizer)
        if mode not in self.captured:
            self.captured[mode] = CapturedStep(self.session, model, optimizer, mode)
            self.n_captures += 1
        return self.captured[mode]

    def _fall_back(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.captured.clear()
        self.owner = None
        logger.warning("CUDA graph of the training step failed (%s); training eagerly", self.failed)


class StaticInputs:
    """What a replayed step reads and the eager step gets as arguments: noise, proxy values.

    `fill` draws the uniforms grid by grid from `generator`, as the eager
    step's `torch.rand(shape, generator=...)` calls do, so both get the same noise.
    """

    def __init__(self, sizes: list[tuple[int, int]], mode: str, device) -> None:
        self.mode = mode
        self.uniforms = [torch.full(size, 0.5, device=device) for size in sizes]
        self.temperature = torch.full((), 0.3, device=device)
        self.noise_parameter = torch.full((), 1.0, device=device)
        self.proxy = Proxy(mode, self.temperature, self.noise_parameter)

    def fill(self, proxy: Proxy, generator: torch.Generator) -> None:
        if proxy.mode != self.mode:
            raise ValueError(f"inputs made for {self.mode}, asked for {proxy.mode}")
        if self.mode in _NOISY_MODES:
            for uniform in self.uniforms:
                uniform.uniform_(0.0, 1.0, generator=generator)
        if self.mode == "softround":
            self.temperature.fill_(float(proxy.temperature))
            self.noise_parameter.fill_(float(proxy.noise_parameter))


class CapturedStep:
    """`session.train_step` of one model, optimizer and proxy mode as a CUDA graph."""

    def __init__(self, session, model, optimizer, mode: str) -> None:
        device = session.target.device
        self.session = session
        self.optimizer = optimizer
        self.inputs = StaticInputs(model.latents.sizes, mode, device)
        make_capturable(optimizer, device)
        snapshot = TrainingState(model, optimizer)
        try:
            self.graph, self.outputs = self._capture(model, optimizer, device)
        finally:
            snapshot.restore()

    def _capture(self, model, optimizer, device):
        step = self.session.train_step
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        inputs = self.inputs
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                step(model, optimizer, inputs.proxy, inputs.uniforms)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            outputs = step(model, optimizer, inputs.proxy, inputs.uniforms)
        return graph, outputs

    def replay(self, proxy: Proxy, lr: float):
        """Refill the static inputs from `proxy`, `lr` and the noise generator; replay."""
        self.inputs.fill(proxy, self.session.noise_generator)
        for group in self.optimizer.param_groups:
            group["lr"].fill_(lr * group.get("lr_factor", 1.0))
        self.graph.replay()
        return self.outputs


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Adam as a CUDA graph needs `capturable=True`, a tensor learning rate and steps on the GPU."""
    for group in optimizer.param_groups:
        group["capturable"] = True
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
    for state in optimizer.state.values():
        step = state.get("step")
        if isinstance(step, torch.Tensor) and step.device != device:
            state["step"] = step.to(device)


class TrainingState:
    """A copy of the parameters and the optimizer state, put back in place by `restore`.

    In place (`copy_`), so the addresses a graph captured stay valid; optimizer
    state created after the copy (a fresh Adam's moments) is reset to zero,
    which is what a fresh Adam starts from.
    """

    def __init__(self, model, optimizer) -> None:
        self.parameters = [(p, p.detach().clone()) for p in model.parameters()]
        self.optimizer = optimizer
        self.state = {
            id(p): {k: v.detach().clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
            for p, s in optimizer.state.items()
        }

    @torch.no_grad()
    def restore(self) -> None:
        for parameter, saved in self.parameters:
            parameter.copy_(saved)
        for parameter, state in self.optimizer.state.items():
            saved = self.state.get(id(parameter), {})
            for key, value in state.items():
                if not isinstance(value, torch.Tensor):
                    continue
                if key in saved:
                    value.copy_(saved[key])
                else:
                    value.zero_()
