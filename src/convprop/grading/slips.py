"""The catalogue of slips: operators built from the verified reference, and a matcher.

A user's output ``U`` for one part (``"F"``, ``"G_delta"``, ``"G_gw"``) is compared with every
candidate operator on the same random float64 arrays. A candidate is the verified operator
(:mod:`convprop.conv`, true convolution) with

* the kernel (F, delta) or the result (g_w) re-oriented by one of the 8 symmetries of a
  rectangle: flipped on both axes (correlation for F), on one axis, transposed, rotated;
* the result transposed (F, delta): ``x.T``, and with a transposed kernel, ``z.T``;
* in 4-D, one channel only: F's input channel ``c``, delta's output channel ``o``, g_w's batch
  element ``n`` (a missing sum, e.g. ``=`` where ``+=`` belongs);

then shifted by ``s`` in ``[-m, m]^2`` (``m = max(kh, kw)``), so that ``U(j) = scale *
cand(j + s)``, with the candidate zero outside its support. The shift covers the index offset of
``kernel_size - 1`` (the seed's Q2.4), "same" and "full" padding (a larger output), and crops.
To do that, each candidate is evaluated *extended*: on arrays zero-padded by ``m``, so its
answer sits at offset ``(m, m)`` in a larger array (``extended``).

Matching is exact to float64 rounding: random inputs make two different operators agree
nowhere, so the first candidate that matches is the slip. A match to 1e-4 of the largest entry
is accepted too and reported as low precision (float32 arithmetic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from convprop import conv

EXACT = 1e-9  # relative to the largest entry of the right answer: float64 rounding
LOOSE = 1e-4  # float32 rounding


@dataclass(frozen=True)
class Orientation:
    """One symmetry of a rectangle, on the last two axes: transpose first, then flips."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self.transpose:
            a = np.swapaxes(a, -1, -2)
        if self.flip_rows:
            a = a[..., ::-1, :]
        if self.flip_cols:
            a = a[..., :, ::-1]
        return np.ascontiguousarray(a)

    @property
    def flips(self) -> int:
        return int(self.flip_rows) + int(self.flip_cols)


ORIENTATIONS = [
    Orientation(t, r, c)
    for t in (False, True)
    for r, c in ((False, False), (True, True), (True, False), (False, True))
]


@dataclass(frozen=True)
class Candidate:
    """A variant of the verified operator of one part (see the module docstring)."""

    orientation: Orientation = Orientation()
    out_transposed: bool = False
    channel: int | None = None

    @property
    def is_reference(self) -> bool:
        return self == Candidate()


@dataclass
class Match:
    """``U(j) = scale * candidate(j + shift)``, to ``error`` (over the interior only if set)."""

    candidate: Candidate
    shift: tuple[int, int]
    scale: float
    error: float
    exact: bool
    interior_only: bool = False


class Problem:
    """The random arrays of one diagnosis and the verified answers on them.

    Shapes: ``(H, W), (kh, kw)`` or ``(N, C, H, W), (O, C, kh, kw)``; ``eps`` has the shape of
    ``F(z, w)``, valid and stride 1.
    """

    def __init__(self, input_shape: tuple[int, ...], kernel_shape: tuple[int, ...], seed: int):
        out_shape = conv.conv2d_output_shape(input_shape, kernel_shape)
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.z = rng.standard_normal(input_shape)
        self.w = rng.standard_normal(kernel_shape)
        self.eps = rng.standard_normal(out_shape)
        self.four = len(input_shape) == 4
        self.margin = max(kernel_shape[-2:])
        self.expected = {"F": out_shape, "G_delta": self.z.shape, "G_gw": self.w.shape}
        self._extended: dict[tuple[str, Candidate], np.ndarray] = {}

    @cached_property
    def answers(self) -> dict[str, np.ndarray]:
        delta, g_w = conv.conv2d_backward(self.eps, self.z, self.w)
        return {"F": conv.conv2d(self.z, self.w), "G_delta": delta, "G_gw": g_w}

    def candidates(self, part: str) -> list[Candidate]:
        """Every candidate of a part, the reference first, then by how many slips it has."""
        summed = {"F": self.z.shape[1], "G_delta": self.w.shape[0], "G_gw": self.z.shape[0]}
        n = summed[part] if self.four else 1
        channels = [None, *range(n)] if n > 1 else [None]
        transposes = (False,) if part == "G_gw" else (False, True)
        cands = [Candidate(o, t, c) for c in channels for t in transposes for o in ORIENTATIONS]
        return sorted(cands, key=lambda c: (c.channel is not None, c.out_transposed, _rank(c)))

    def extended(self, part: str, cand: Candidate) -> np.ndarray:
        """The candidate's answer on inputs zero-padded by ``m``: it sits at offset (m, m)."""
        key = (part, cand)
        if key not in self._extended:
            self._extended[key] = self._build(part, cand)
        return self._extended[key]

    def _build(self, part: str, cand: Candidate) -> np.ndarray:
        m, c = self.margin, cand.channel
        one = slice(None) if c is None else slice(c, c + 1)
        if part == "F":
            w = cand.orientation(self.w)
            z, w = (self.z[:, one], w[:, one]) if self.four else (self.z, w)
            e = conv.conv2d(z, w, padding=m)
        elif part == "G_delta":
            w = cand.orientation(self.w)
            eps, w = (self.eps[:, one], w[one]) if self.four else (self.eps, w)
            shape = (*self.z.shape[:-2], *(n + 2 * m for n in self.z.shape[-2:]))
            e = conv.conv2d_adjoint_input(_pad(eps, m), w, input_shape=shape)
        else:
            eps, z = (self.eps[one], self.z[one]) if self.four else (self.eps, self.z)
            shape = (*self.w.shape[:-2], *(n + 2 * m for n in self.w.shape[-2:]))
            e = cand.orientation(conv.conv2d_adjoint_weight(eps, _pad(z, m), kernel_shape=shape))
        return np.ascontiguousarray(np.swapaxes(e, -1, -2)) if cand.out_transposed else e

    def match(self, part: str, u: np.ndarray) -> Match | None:
        """The simplest candidate, shift and scale that give ``u``; ``None`` if none does."""
        scale_ref = max(float(np.max(np.abs(self.answers[part]))), np.finfo(float).tiny)
        if u.ndim < 2 or u.size == 0:
            return None
        m = self.margin
        shifts = sorted(itertools.product(range(-m, m + 1), repeat=2), key=_norm)
        rng = np.random.default_rng(1)
        picks = tuple(rng.integers(0, n, 48) for n in u.shape)
        for cand in self.candidates(part):
            e = self.extended(part, cand)
            if e.shape[:-2] != u.shape[:-2]:
                continue
            for s in shifts:
                found = _try(u, e, (m + s[0], m + s[1]), picks, scale_ref)
                if found is not None:
                    scale, error = found
                    exact = error <= EXACT * scale_ref * max(1.0, abs(scale))
                    return Match(cand, s, scale, error, exact)
        return self._interior(part, u, scale_ref)

    def _interior(self, part: str, u: np.ndarray, scale_ref: float) -> Match | None:
        """The right answer away from the borders (a band of kernel_size - 1), or ``None``."""
        b = self.margin - 1
        ref = self.answers[part]
        if part == "G_gw" or u.shape != ref.shape or b == 0 or min(u.shape[-2:]) <= 2 * b:
            return None
        error = float(np.max(np.abs(u[..., b:-b, b:-b] - ref[..., b:-b, b:-b])))
        if error > LOOSE * scale_ref:
            return None
        return Match(Candidate(), (0, 0), 1.0, error, error <= EXACT * scale_ref, True)


def _rank(c: Candidate) -> int:
    return ORIENTATIONS.index(c.orientation)


def _norm(s: tuple[int, int]) -> tuple[int, int, int, int]:
    return (abs(s[0]) + abs(s[1]), max(abs(s[0]), abs(s[1])), -s[0], -s[1])


def _pad(a: np.ndarray, m: int) -> np.ndarray:
    return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(m, m), (m, m)])


def window(e: np.ndarray, start: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """``e[..., r:r+h, c:c+w]`` for any start, reading zeros outside ``e``."""
    out = np.zeros((*e.shape[:-2], *shape))
    src, dst = [], []
    for r, n, size in zip(start, shape, e.shape[-2:], strict=True):
        lo, hi = max(r, 0), min(r + n, size)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - r, hi - r))
    out[(..., *dst)] = e[(..., *src)]
    return out


def _try(u, e, start, picks, scale_ref) -> tuple[float, float] | None:
    """(scale, max error) if ``u == scale * window(e, start)`` to LOOSE, else ``None``.

    A cheap test on 48 sampled entries comes first; the whole array only if they agree.
    """
    *lead, rows, cols = picks
    rows, cols = rows + start[0], cols + start[1]
    inside = (rows >= 0) & (rows < e.shape[-2]) & (cols >= 0) & (cols < e.shape[-1])
    v = np.zeros(len(rows))
    v[inside] = e[(*(i[inside] for i in lead), rows[inside], cols[inside])]
    us = u[picks]
    tol = LOOSE * scale_ref
    if np.max(np.abs(us - v)) <= tol:
        scale = 1.0
    elif u.size < 2:  # one number is a multiple of any other
        return None
    else:
        vv = float(v @ v)
        if vv == 0.0:
            return None
        scale = float(us @ v) / vv
        if np.max(np.abs(us - scale * v)) > tol * max(1.0, abs(scale)):
            return None
    error = float(np.max(np.abs(u - scale * window(e, start, u.shape[-2:]))))
    if error > tol * max(1.0, abs(scale)):
        return None
    return scale, error
