"""What every layer's judge shares: settings, calls into the submission, and the comparison.

A part's output ``got`` is compared with the verified answer ``ref``: equal to float64
rounding (``EXACT`` of the largest entry), it is right; to float32 rounding (``LOOSE``), right
with a ``low_precision`` warning. Otherwise each :class:`Slip` of the layer is tried in order,
and the first that explains ``got`` is the finding; failing all, a ``not_finite``,
``wrong_shape`` or ``wrong_value`` finding. Every finding carries the largest error and the
first wrong index (when the shapes agree) and a one-line fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convprop.grading import explain
from convprop.grading.findings import Finding
from convprop.grading.submission import Submission
from convprop.tensor import Tensor

EXACT = 1e-9  # relative to the largest entry of the right answer: float64 rounding
LOOSE = 1e-4  # float32 rounding
BASE_SECONDS = 10.0  # per call, whatever the size: starting the work, a slow machine
SECONDS_PER_MAC = (
    5e-6  # per multiply-add of the work (a scalar Python loop: ~1 us here; 5x margin)
)
REQUIRED = object()


@dataclass
class PartResult:
    """The verdict on one part (``forward``, ``dx``, ...) in one setting."""

    part: str
    ok: bool
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Slip:
    """A named mistake: its output on the judge's inputs (``value``), or a test of the output."""

    code: str
    message: str
    fix: str
    value: np.ndarray | None = None
    test: Callable[[np.ndarray], bool] | None = None


def default_timeout(macs: float) -> float:
    """Seconds per call for work of ``macs`` multiply-adds: enough for a plain Python loop."""
    return BASE_SECONDS + SECONDS_PER_MAC * float(macs)


class Setting:
    """A setting's keys, read one at a time; :meth:`done` refuses any key left unread."""

    def __init__(self, layer: str, setting: dict) -> None:
        self.layer, self.values, self.read = layer, dict(setting), set()

    def take(self, key: str, default: Any = REQUIRED) -> Any:
        self.read.add(key)
        if key in self.values:
            return self.values[key]
        if default is REQUIRED:
            raise ValueError(f"{self.layer}: the setting needs the key {key!r}")
        return default

    def shape(self, key: str, ndims: Sequence[int], default: Any = REQUIRED) -> tuple[int, ...]:
        value = self.take(key, default)
        ok = isinstance(value, (list, tuple)) and len(value) in ndims
        if not ok or not all(isinstance(n, (int, np.integer)) and n > 0 for n in value):
            want = " or ".join(str(n) for n in ndims)
            raise ValueError(f"{self.layer}: {key} must be {want} positive ints, got {value!r}")
        return tuple(int(n) for n in value)

    def integer(self, key: str, default: Any = REQUIRED, low: int = 0) -> int:
        value = self.take(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{self.layer}: {key} must be an int >= {low}, got {value!r}")
        return int(value)

    def number(self, key: str, default: Any = REQUIRED, low: float = 0.0) -> float:
        value = self.take(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{self.layer}: {key} must be a number, got {value!r}")
        if not value >= low:
            raise ValueError(f"{self.layer}: {key} must be >= {low:g}, got {value!r}")
        return float(value)

    def done(self) -> None:
        unknown = sorted(set(self.values) - self.read)
        if unknown:
            raise ValueError(f"{self.layer}: unknown setting key {unknown[0]!r}")


def flag(options: dict, key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"option {key} must be true or false, got {value!r}")
    return value


class Calls:
    """Calls into a submission; each failure or note becomes a finding of the parts it feeds."""

    def __init__(self, sub: Submission, timeout: float | None, macs: float) -> None:
        self.sub = sub
        self.timeout = default_timeout(macs) if timeout is None else float(timeout)
        self.notes: dict[str, list[Finding]] = {}
        self.converted: dict[str, Finding] = {}  # part -> its value was not a float array
        self.opened = sub.open()

    def note(self, parts: Sequence[str], finding: Finding) -> None:
        """Add ``finding`` to each part (a warning only once per code: prints at every step)."""
        for part in parts:
            kept = self.notes.setdefault(part, [])
            if finding.severity != "error" and any(f.code == finding.code for f in kept):
                continue
            kept.append(Finding(**{**finding.to_dict(), "part": part, "first_wrong_index": None}))

    def __call__(
        self,
        parts: Sequence[str],
        name: str,
        *args: Any,
        returns: Sequence[str] | str,
        kwargs: dict | None = None,
    ) -> tuple | None:
        """``name(*args, **kwargs)``; its values (arrays, numbers, handles), or None on failure.

        ``returns``: the names of a tuple's items, each ``"name:kind"`` with kind ``array``
        (default), ``number`` or ``any`` (kept in the child, a handle here); a plain string for
        one value.
        """
        if self.opened.failure:
            self.note(parts, explain.failure("file", self.opened))
            return None
        if name not in self.sub.names:
            self.note(
                parts,
                Finding(
                    "missing_function",
                    "error",
                    parts[0],
                    f"the file defines no function named {name!r}",
                    fix=f"define {name}(...) at the top level, or give its name "
                    "(--forward, --backward, --function)",
                ),
            )
            return None
        spec = [_item(r) for r in ([returns] if isinstance(returns, str) else returns)]
        out = self.sub.invoke(
            name,
            *args,
            kwargs=kwargs or {},
            returns=spec,
            single=isinstance(returns, str),
            timeout=self.timeout,
        )
        if out.printed > explain.NOISY:
            self.note(parts, explain.noisy(name, out.printed, out.head))
        if out.failure:
            self.note(parts, explain.failure(name, out))
            return None
        for i, (item, _) in enumerate(spec):
            if item in out.notes:  # compared all the same; see verdict
                part = parts[min(i, len(parts) - 1)]
                self.converted[part] = explain.converted(name, out.notes[item])
                self.converted[part].part = part
        return out.arrays

    def missing(self, parts: Sequence[str], why: str) -> None:
        """A part not run because an earlier call failed (a cs231n backward without a cache)."""
        for part in parts:
            if any(f.severity == "error" for f in self.notes.get(part, [])):
                continue
            if self.opened.failure:  # the file did not load: say so in every part
                self.note([part], explain.failure("file", self.opened))
            else:
                self.note([part], Finding("not_run", "error", part, why, fix=""))


def _item(text: str) -> list[str]:
    name, _, kind = text.partition(":")
    return [name, kind or "array"]


def autodiff(
    fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], eps: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """convprop's verified answer: ``fn(*arrays)`` and the gradients of ``<fn(...), eps>``.

    ``eps`` None: ``fn`` gives one number (a loss), differentiated itself.
    """
    # dtype given: Tensor() makes float64 arrays float32 by default, and the reference is float64
    tensors = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    out = fn(*tensors)
    out.backward(eps)
    return np.array(out.data), [np.array(t.grad) for t in tensors]


def errors(got: np.ndarray, ref: np.ndarray) -> tuple[float | None, tuple[int, ...] | None]:
    """Largest ``|got - ref|`` and the first index (C order) beyond float64 rounding."""
    if got.shape != ref.shape:
        return None, None
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - ref)
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    wrong = ~(diff <= EXACT * scale)  # NaN counts as wrong
    first = tuple(int(i) for i in np.argwhere(wrong)[0]) if wrong.any() else None
    return float(np.max(diff, initial=0.0)), first


def close(got: np.ndarray, value: np.ndarray, ref: np.ndarray, tol: float) -> bool:
    if got.shape != value.shape or not np.all(np.isfinite(got)):
        return False
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    return bool(np.max(np.abs(got - value), initial=0.0) <= tol * scale)


def verdict(
    calls: Calls,
    part: str,
    got: Any,
    ref: np.ndarray,
    slips: Sequence[Slip] = (),
    fix: str = "",
    what: str = "",
) -> PartResult:
    """The :class:`PartResult` of one part: its call's notes, then the comparison."""
    findings = list(calls.notes.get(part, []))
    what = what or part
    if got is not None:
        found = compare(part, np.asarray(got, dtype=np.float64), ref, slips, fix, what)
        if part in calls.converted:  # an error if the value is right, a note beside a slip
            converted = calls.converted[part]
            if any(f.severity == "error" for f in found):
                converted.severity = "warning"
            found.append(converted)
        findings += found
    elif not any(f.severity == "error" for f in findings):
        findings.append(Finding("not_run", "error", part, f"{what} gave no result"))
    return PartResult(part, not any(f.severity == "error" for f in findings), findings)


def compare(
    part: str, got: np.ndarray, ref: np.ndarray, slips: Sequence[Slip], fix: str, what: str
) -> list[Finding]:
    """Findings for ``got`` against ``ref`` (empty when right)."""
    err, first = errors(got, ref)
    if close(got, ref, ref, EXACT):
        return []
    if close(got, ref, ref, LOOSE):
        message = f"{what} agrees only to {err:.1e} (float32 arithmetic?)"
        fix32 = "compute in float64 (do not cast the inputs to float32)"
        return [Finding("low_precision", "warning", part, message, err, first, fix32)]
    for slip in slips:
        hit = slip.test(got) if slip.test is not None else close(got, slip.value, ref, LOOSE)
        if hit:
            return [Finding(slip.code, "error", part, slip.message, err, first, slip.fix)]
    if got.shape != ref.shape:
        message = f"{what} has shape {got.shape}; the math requires {ref.shape}"
        return [Finding("wrong_shape", "error", part, message, None, None, fix)]
    if not np.all(np.isfinite(got)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        message = f"{what} holds NaN or infinite values (first at {bad})"
        return [Finding("not_finite", "error", part, message, err, bad, fix)]
    message = f"{what} matches neither the right answer nor any catalogued slip"
    return [Finding("wrong_value", "error", part, message, err, first, fix)]


def forward_backward(
    calls: Calls,
    convention: str,
    names: dict,
    forward_args: tuple,
    eps: np.ndarray,
    backward_args: tuple,
    parts: Sequence[str],
    seed_names: Sequence[str],
) -> dict[str, Any]:
    """The outputs of a forward and a backward function, by part.

    ``cs231n``: ``forward(*forward_args) -> (out, cache)``, ``backward(eps, cache) -> parts``.
    ``seed``: ``forward(*forward_args) -> x``, ``backward(eps, *backward_args) -> seed_names``.
    One part: a plain value rather than a tuple of one.
    """
    got: dict[str, Any] = {}
    single = len(parts) == 1
    if convention == "cs231n":
        fwd = calls(("forward",), names["forward"], *forward_args, returns=["out", "cache:any"])
        if fwd is None:
            calls.missing(parts, f"not run: {names['forward']} gave no cache")
            return got
        got["forward"] = fwd[0]
        rets = parts[0] if single else list(parts)
        bwd = calls(parts, names["backward"], eps, fwd[1], returns=rets)
    else:
        out = calls(("forward",), names["forward"], *forward_args, returns="x")
        if out is not None:
            got["forward"] = out[0]
        rets = seed_names[0] if single else list(seed_names)
        bwd = calls(parts, names["backward"], eps, *backward_args, returns=rets)
    if bwd is not None:
        got.update(zip(parts, bwd, strict=True))
    return got
