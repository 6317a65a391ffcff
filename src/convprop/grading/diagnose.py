"""Is someone's own F and G for a convolution layer right, and if not, which slip is it?

:func:`diagnose_conv` takes Python functions; :func:`check_file` takes a ``.py`` file and runs
it in a child process with a time limit per call (:class:`~convprop.grading.Submission`). Both:

1. draw random float64 ``z``, ``w`` and ``eps`` (``eps`` of the shape of ``F(z, w)``) and call
   ``x = F(z, w)`` and ``(delta, g_w) = G(eps, z, w)`` (or ``G_delta(eps, w)``,
   ``G_gw(eps, z)``) once each;
2. compare each output with the verified answer of :mod:`convprop.conv` (true convolution,
   "valid", stride 1, as in the seed) and, if it differs, with the catalogue of slips in
   :mod:`convprop.grading.slips`, naming the one that matches to float64 rounding;
3. run the dot-product test (:func:`~convprop.check.adjoint_test`) of each half of G against the
   user's *own* F, ``<F(z, w), eps> = <z, G_delta(eps, w)> = <w, G_gw(eps, z)>``, so a
   correlation layer with correlation's G is reported as consistent with itself and also as
   not the seed's convolution.

Everything that goes wrong (an exception, a time-out, the wrong type or shape) becomes a
:class:`~convprop.grading.Finding` of the :class:`~convprop.grading.Report`; nothing the user's
code does raises here. Bad *arguments* (shapes that make no convolution, a missing file) raise
``ValueError`` / ``FileNotFoundError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from convprop.check import adjoint_test
from convprop.grading import explain
from convprop.grading.findings import Finding, Report
from convprop.grading.slips import Problem
from convprop.grading.submission import DEFAULT_TIMEOUT, Outcome, Submission, call_in_process

PARTS = ("F", "G_delta", "G_gw")
Caller = Callable[..., Outcome]  # call(*arrays) -> Outcome


def diagnose_conv(
    F: Callable[..., Any] | None,  # noqa: N803 (the seed's names)
    G: Callable[..., Any] | None = None,  # noqa: N803
    *,
    G_delta: Callable[..., Any] | None = None,  # noqa: N803
    G_gw: Callable[..., Any] | None = None,  # noqa: N803
    input_shape: Sequence[int] = (128, 128),
    kernel_shape: Sequence[int] = (3, 3),
    seed: int = 0,
) -> Report:
    """Diagnose ``F(z, w) -> x`` and ``G(eps, z, w) -> (delta, g_w)`` (or the two halves).

    Shapes: ``input_shape`` ``(H, W)`` or ``(N, C, H, W)``; ``kernel_shape`` ``(kh, kw)`` or
    ``(O, C, kh, kw)``; then ``x``, ``eps``: ``(H - kh + 1, W - kw + 1)`` (with ``N, O`` in
    front), ``delta``: ``input_shape``, ``g_w``: ``kernel_shape``. The functions run here, in
    this process, with exceptions and prints caught but no time limit: use
    :func:`check_file` for code you do not trust to return.
    """
    if G is not None and (G_delta is not None or G_gw is not None):
        raise ValueError("give G, or G_delta and G_gw, not both")
    functions = {"F": F, "G": G, "G_delta": G_delta, "G_gw": G_gw}
    callers = {
        role: partial(call_in_process, fn, pair=role == "G")
        for role, fn in functions.items()
        if fn is not None
    }
    source = getattr(F, "__qualname__", None) or getattr(G, "__qualname__", "functions")
    return Diagnosis(
        callers, Problem(*check_shapes(input_shape, kernel_shape), seed), source
    ).run()


def check_file(
    path: str | os.PathLike,
    *,
    forward: str = "F",
    backward: str | None = None,
    delta: str | None = None,
    gw: str | None = None,
    input_shape: Sequence[int] = (128, 128),
    kernel_shape: Sequence[int] = (3, 3),
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    submission_options: dict | None = None,
) -> Report:
    """Diagnose the functions of a user's ``.py`` file, run in a child process.

    Loading the file runs its code. ``forward`` names F; ``backward`` names G (default ``G``;
    a file without one but with ``G_delta`` / ``G_gw`` is checked in two halves), or ``delta``
    and ``gw`` name the halves. ``timeout`` bounds each call in seconds (the import gets at
    least 10). ``submission_options`` go to :class:`~convprop.grading.Submission`.
    """
    problem = Problem(*check_shapes(input_shape, kernel_shape), seed)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if backward is not None and (delta is not None or gw is not None):
        raise ValueError("give --backward, or --delta and --gw, not both")
    with Submission(path, timeout=timeout, **(submission_options or {})) as sub:
        opened = sub.open()
        early = []
        if opened.printed > explain.NOISY:
            early.append(explain.noisy("file", opened.printed, opened.head))
        if opened.failure:
            report = Report(str(path), problem.z.shape, problem.w.shape, seed)
            report.findings = [explain.failure("file", opened), *early]
            report.verdicts = dict.fromkeys(PARTS, "not run: the file did not load")
            return report
        roles, missing = find_roles(sub.names, forward, backward, delta, gw)
        callers = {role: partial(sub.call, name, pair=role == "G") for role, name in roles.items()}
        report = Diagnosis(callers, problem, str(path), early + missing).run()
        printed, head = sub.stray_output
        if printed > explain.NOISY:
            report.findings.append(explain.noisy("file", printed, head))
    return report


def find_roles(names, forward, backward, delta, gw) -> tuple[dict[str, str], list[Finding]]:
    """Which function plays which role, and a finding for each one the file lacks."""
    wanted = {"F": forward}
    if delta is not None or gw is not None:
        wanted.update({k: v for k, v in (("G_delta", delta), ("G_gw", gw)) if v is not None})
    elif backward is not None or "G" in names or not {"G_delta", "G_gw"} & set(names):
        wanted["G"] = backward or "G"
    else:
        wanted.update({"G_delta": "G_delta", "G_gw": "G_gw"})
    missing = [
        Finding(
            "missing_function",
            "error",
            role,
            f"the file defines no function named {name!r} (for {role})",
            fix=f"define {name}(...) at the top level, or name yours with --forward, "
            "--backward, --delta or --gw",
        )
        for role, name in wanted.items()
        if name not in names
    ]
    return {role: name for role, name in wanted.items() if name in names}, missing


def check_shapes(
    input_shape: Sequence[int], kernel_shape: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The two shapes as int tuples, or ``ValueError`` if they make no valid convolution."""
    zs, ws = tuple(input_shape), tuple(kernel_shape)
    if not all(isinstance(n, (int, np.integer)) and n > 0 for n in zs + ws):
        raise ValueError(f"shapes must be positive ints, got {zs} and {ws}")
    if len(zs) != len(ws) or len(zs) not in (2, 4):
        raise ValueError(
            f"shapes must be (H, W) with (kh, kw), or (N, C, H, W) with (O, C, kh, kw); got "
            f"{zs} and {ws}"
        )
    if len(zs) == 4 and zs[1] != ws[1]:
        raise ValueError(f"input has C = {zs[1]} channels but the kernel expects {ws[1]}")
    if zs[-2] < ws[-2] or zs[-1] < ws[-1]:
        raise ValueError(f"the kernel {ws[-2:]} is larger than the input {zs[-2:]}")
    return tuple(int(n) for n in zs), tuple(int(n) for n in ws)


class _Failed(Exception):
    """A call inside the dot-product test gave no value (its finding is already recorded)."""


class Diagnosis:
    """One run: call each role once, explain each part, then the dot-product tests."""

    def __init__(
        self, callers: dict[str, Caller], problem: Problem, source: str, early: list | None = None
    ) -> None:
        self.callers, self.p = callers, problem
        self.report = Report(source, problem.z.shape, problem.w.shape, problem.seed)
        self.report.findings = list(early or [])
        self.outputs: dict[str, np.ndarray] = {}
        self.right: dict[str, bool] = {}  # part -> no error found in it
        self.loose: set[str] = set()  # parts right only to float32 rounding
        self.failed: set[str] = set()
        self.warned: set[tuple[str, str]] = set()

    def add(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    def call(self, role: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...] | None:
        if role not in self.callers or role in self.failed:
            return None
        out = self.callers[role](*arrays)
        if out.printed > explain.NOISY and (role, "noisy") not in self.warned:
            self.warned.add((role, "noisy"))
            self.add(explain.noisy(role, out.printed, out.head))
        if out.failure:
            self.failed.add(role)
            self.add(explain.failure(role, out))
            return None
        if out.note and (role, "type") not in self.warned:
            self.warned.add((role, "type"))
            self.add(explain.converted(role, out.note))
        return out.arrays

    def must(self, role: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        result = self.call(role, *arrays)
        if result is None:
            raise _Failed(role)
        return result

    def run(self) -> Report:
        p = self.p
        if (x := self.call("F", p.z, p.w)) is not None:
            self.outputs["F"] = x[0]
        if "G" in self.callers:
            if (pair := self.call("G", p.eps, p.z, p.w)) is not None:
                self.outputs["G_delta"], self.outputs["G_gw"] = pair
        else:
            for role, args in (("G_delta", (p.eps, p.w)), ("G_gw", (p.eps, p.z))):
                if (out := self.call(role, *args)) is not None:
                    self.outputs[role] = out[0]
        for part in PARTS:
            self.explain(part)
        for part in PARTS[1:]:
            self.own_adjoint(part)
        order = {"file": 0, "F": 1, "G": 2, "G_delta": 3, "G_gw": 4}
        self.report.findings.sort(key=lambda f: order.get(f.part, 5))
        return self.report

    def explain(self, part: str) -> None:
        verdicts = self.report.verdicts
        if part not in self.outputs:
            given = part in self.callers or (part != "F" and "G" in self.callers)
            verdicts[part] = "no result (see below)" if given else "not checked"
            return
        u = self.outputs[part]
        if not np.all(np.isfinite(u)):
            first = tuple(int(i) for i in np.argwhere(~np.isfinite(u))[0])
            self.add(
                Finding(
                    "not_finite",
                    "error",
                    part,
                    f"{explain.NAMES[part]} holds NaN or infinite values (first at {first})",
                    None,
                    first,
                    "look for a division by zero or an uninitialised np.empty",
                )
            )
            verdicts[part] = "NaN or infinite values"
            return
        findings, verdicts[part] = explain.describe(self.p, part, u, self.p.match(part, u))
        self.report.findings += findings
        self.right[part] = not any(f.severity == "error" for f in findings)
        if any(f.code == "low_precision" for f in findings):
            self.loose.add(part)

    def own_adjoint(self, part: str) -> None:
        """The dot-product test of one half of G against the user's own F."""
        p, out = self.p, self.outputs
        if any(k not in out or out[k].shape != p.expected[k] for k in ("F", part)):
            return
        if part not in self.right or "F" not in self.right:
            return
        z, w, pair = p.z, p.w, "G" in self.callers
        if part == "G_delta":
            wrt = "z"
            forward = lambda a: self.must("F", a, w)[0]  # noqa: E731
            adjoint = (
                (lambda e: self.must("G", e, z, w)[0])
                if pair
                else (lambda e: self.must("G_delta", e, w)[0])
            )
        else:
            wrt = "w"
            forward = lambda a: self.must("F", z, a)[0]  # noqa: E731
            adjoint = (
                (lambda e: self.must("G", e, z, w)[1])
                if pair
                else (lambda e: self.must("G_gw", e, z)[0])
            )
        rtol = 1e-4 if self.loose & {"F", part} else None
        try:
            result = adjoint_test(
                forward,
                adjoint,
                p.expected[part],
                p.expected["F"],
                trials=1,
                rtol=rtol,
                seed=p.seed + 1,
            )
        except _Failed:
            return
        except ValueError as error:  # a later call returned another shape
            self.add(Finding("wrong_shape", "error", part, f"in the dot-product test: {error}"))
            return
        what, (a, b) = explain.NAMES[part], (result.lhs[0], result.rhs[0])
        test = f"<F(z, w), eps> = {a:.10g}, <{wrt}, {what}(eps)> = {b:.10g}"
        if result.ok:
            if not self.right["F"]:
                self.add(
                    Finding(
                        "adjoint_of_own_F",
                        "info",
                        part,
                        f"{part} is the exact adjoint of your own F ({test}): your F and G agree "
                        f"with each other, but F is {self.report.verdicts['F']}, not the seed's "
                        "true convolution, so fix them together",
                        fix="fix F, then keep G its adjoint: " + explain.right_formula(p, part),
                    )
                )
            return
        notes, severity = "", "error"
        if result.linearity_error > 1e-6:
            notes = f"; your F is not linear in {wrt} (error {result.linearity_error:.1e})"
        elif self.right[part] and not self.right["F"]:  # a note: the error is F's
            notes, severity = f"; your {what} is the right one, so it is F that is wrong", "info"
        self.add(
            Finding(
                "not_adjoint_of_own_F",
                severity,
                part,
                f"{part} is not the adjoint of your own F: {test}, relative error "
                f"{result.max_rel_error:.1e}{notes}",
                None,
                None,
                f"{what} must satisfy <F(z, w), eps> = <{wrt}, {what}(eps)> for every {wrt} and "
                "eps: derive it from F, index by index",
            )
        )
