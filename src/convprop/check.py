"""Checkers a student can point at their own layer: gradient check and adjoint test.

Part of the core (the test suite uses them on every primitive); checking a whole submitted
file, ``convprop check``, is the application :mod:`convprop.grading`, built on these.

``gradcheck(fn, *inputs)`` compares the gradients that ``backward()`` computes with float64
central differences. For a random error ``eps`` at the output it checks, for every input z,

    G(eps)_i  ==  ( <fn(z + h e_i), eps> - <fn(z - h e_i), eps> ) / (2 h).

``adjoint_test(F, G, in_shape, out_shape)`` is the dot-product test for a linear operator F
and a claimed adjoint G, on random z and eps:

    <F(z), eps>  ==  <z, G(eps)>     (exact up to float rounding when G = F^T).

Both return a result object with the numbers; ``strict=True`` raises :class:`CheckError`
with the same report when the check fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convprop.tensor import Tensor, no_grad

__all__ = ["AdjointResult", "CheckError", "GradcheckResult", "adjoint_test", "gradcheck"]


class CheckError(AssertionError):
    """A gradient check or adjoint test failed; the message holds the numbers."""


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`: worst errors overall and per input."""

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_input: int
    worst_index: tuple[int, ...]
    per_input: list[tuple[float, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "passed" if self.ok else "FAILED"
        return (
            f"gradcheck {verdict}: max abs error {self.max_abs_error:.3e}, max relative "
            f"error {self.max_rel_error:.3e} (input {self.worst_input}, index "
            f"{self.worst_index})"
        )


@dataclass
class AdjointResult:
    """Outcome of :func:`adjoint_test`: both sides of ``<F(z), eps> = <z, G(eps)>``."""

    ok: bool
    lhs: list[float]
    rhs: list[float]
    max_rel_error: float
    linearity_error: float

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "passed" if self.ok else "FAILED"
        pairs = ", ".join(f"{a:.10g} vs {b:.10g}" for a, b in zip(self.lhs, self.rhs, strict=True))
        return (
            f"adjoint test {verdict}: <F(z), eps> vs <z, G(eps)>: {pairs}; max relative "
            f"error {self.max_rel_error:.3e}; F's linearity error "
            f"{self.linearity_error:.3e}"
        )


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    h: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    wrt: Sequence[int] | None = None,
    seed: int = 0,
    strict: bool = False,
) -> GradcheckResult:
    """Compare ``backward()``'s gradients of ``fn`` with float64 central differences.

    Args:
        fn: maps Tensors (one per input) to a Tensor of any shape.
        inputs: arrays or Tensors; copied to float64 Tensors.
        h: finite-difference step.
        atol, rtol: an entry passes when ``|analytic - numeric| <= atol + rtol |numeric|``.
        wrt: indices of the inputs to check (default: all).
        seed: seeds the random output error ``eps``.
        strict: raise :class:`CheckError` on failure.
    """
    wrt = range(len(inputs)) if wrt is None else wrt
    tensors = [
        Tensor(
            np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
            dtype=np.float64,
            requires_grad=i in wrt,
        )
        for i, x in enumerate(inputs)
    ]
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    eps = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(eps)

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*tensors).data * eps))

    per_input, worst = [], (0.0, 0.0, -1, ())
    ok = True
    for i in wrt:
        t = tensors[i]
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad
        numeric = np.zeros_like(t.data)
        for index in np.ndindex(t.shape):
            saved = t.data[index]
            t.data[index] = saved + h
            up = objective()
            t.data[index] = saved - h
            down = objective()
            t.data[index] = saved
            numeric[index] = (up - down) / (2 * h)
        diff = np.abs(analytic - numeric)
        ok &= bool(np.all(diff <= atol + rtol * np.abs(numeric)))
        scale = max(float(np.max(np.abs(numeric), initial=0.0)), atol)
        abs_err = float(np.max(diff, initial=0.0))
        per_input.append((abs_err, abs_err / scale))
        if abs_err / scale >= worst[1] and diff.size:
            worst = (abs_err, abs_err / scale, i, np.unravel_index(np.argmax(diff), diff.shape))
    result = GradcheckResult(
        ok, worst[0], worst[1], worst[2], tuple(int(k) for k in worst[3]), per_input
    )
    if strict and not ok:
        raise CheckError(str(result))
    return result


def adjoint_test(
    F: Callable[[np.ndarray], np.ndarray],  # noqa: N803 (the seed's name)
    G: Callable[[np.ndarray], np.ndarray],  # noqa: N803
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    *,
    trials: int = 3,
    dtype: Any = np.float64,
    rtol: float | None = None,
    seed: int = 0,
    strict: bool = False,
) -> AdjointResult:
    """Dot-product test: is ``G`` the adjoint (transpose) of the linear operator ``F``?

    Draws ``trials`` random pairs ``z`` of ``in_shape`` and ``eps`` of ``out_shape`` and
    compares ``<F(z), eps>`` with ``<z, G(eps)>``. Also reports how far F is from linear,
    ``|F(a z1 + b z2) - a F(z1) - b F(z2)|`` relative to ``|F(z1)|``, since the test
    presumes linearity. ``rtol`` defaults to 1e-10 in float64 and 1e-4 in float32.
    """
    dtype = np.dtype(dtype)
    rtol = (1e-10 if dtype == np.float64 else 1e-4) if rtol is None else rtol
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    rng = np.random.default_rng(seed)
    lhs, rhs, errors = [], [], []
    for _ in range(trials):
        z = rng.standard_normal(in_shape).astype(dtype)
        eps = rng.standard_normal(out_shape).astype(dtype)
        x = np.asarray(F(z))
        if x.shape != out_shape:
            raise ValueError(f"adjoint_test: F(z) has shape {x.shape}, expected {out_shape}")
        delta = np.asarray(G(eps))
        if delta.shape != in_shape:
            raise ValueError(f"adjoint_test: G(eps) has shape {delta.shape}, expected {in_shape}")
        a, b = float(np.vdot(x, eps)), float(np.vdot(z, delta))
        lhs.append(a)
        rhs.append(b)
        errors.append(abs(a - b) / max(abs(a), abs(b), np.finfo(dtype).tiny))
    z1, z2 = rng.standard_normal((2, *in_shape)).astype(dtype)
    mixed = np.asarray(F(2.0 * z1 - 3.0 * z2)) - 2.0 * np.asarray(F(z1)) + 3.0 * np.asarray(F(z2))
    linearity = float(np.linalg.norm(mixed) / max(np.linalg.norm(F(z1)), np.finfo(dtype).tiny))
    worst = max(errors)
    result = AdjointResult(
        worst <= rtol and linearity <= max(100 * rtol, 1e-6), lhs, rhs, worst, linearity
    )
    if strict and not result.ok:
        raise CheckError(str(result))
    return result
