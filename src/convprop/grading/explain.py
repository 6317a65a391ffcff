"""Words for what the matcher found: a :class:`Match` (or its absence) as findings and a verdict.

Messages use the seed's notation (``x = F(z, w)``, ``delta``, ``g_w``, ``eps``; ``j`` output
positions, ``k`` kernel taps) and say which convolution; fixes are one line, usually the right
formula with the kernel's offset ``kernel_size - 1`` written out.
"""

from __future__ import annotations

import numpy as np

from convprop.grading.findings import Finding
from convprop.grading.slips import EXACT, Match, Problem
from convprop.grading.submission import Outcome

NAMES = {"F": "F", "G_delta": "delta", "G_gw": "g_w", "G": "G"}
OUTPUT = {"F": "x", "G_delta": "delta", "G_gw": "g_w"}  # what each part returns
PREFIX = {"F": "forward", "G_delta": "delta", "G_gw": "gw"}
RULE = {
    "F": "H - kh + 1 by W - kw + 1: 'valid', stride 1",
    "G_delta": "the shape of z",
    "G_gw": "the shape of w",
}
NOISY = 10_000  # characters printed by one call before it is worth a warning


def right_formula(p: Problem, part: str) -> str:
    """The right answer, as a one-line formula (2-D, or 4-D with its channel sums)."""
    kh, kw = p.w.shape[-2:]
    off = f"{kh - 1}" if kh == kw else f"({kh - 1}, {kw - 1})"
    if part == "F":
        if p.four:
            return f"x[n, o](j) = sum_c sum_k w[o, c](k) z[n, c](j + {off} - k)"
        return f"x(j) = sum_k w(k) z(j + {off} - k), j over the valid range"
    if part == "G_delta":
        lhs, sums, we = (
            ("delta[n, c]", "sum_o sum_k", "w[o, c]") if p.four else ("delta", "sum_k", "w")
        )
        eps = "eps[n, o]" if p.four else "eps"
        return (
            f"{lhs}(j) = {sums} {we}(k) {eps}(j - {off} + k), eps zero outside its range: pad "
            f"eps by kernel_size - 1 = {off} on each side, then correlate with w"
        )
    if p.four:
        return f"g_w[o, c](k) = sum_n sum_j eps[n, o](j) z[n, c](j + {off} - k)"
    return f"g_w(k) = sum_j eps(j) z(j + {off} - k)"


def describe(p: Problem, part: str, u: np.ndarray, match: Match | None) -> tuple[list, str]:
    """Findings for part ``part`` whose output is ``u``, and a verdict: what it computes."""
    what, prefix, expected = NAMES[part], PREFIX[part], p.expected[part]
    ref = p.answers[part]
    err, first = _errors(u, ref)
    right = right_formula(p, part)
    findings: list[Finding] = []
    phrases: list[str] = []

    def add(code: str, message: str, fix: str = right, severity: str = "error") -> None:
        findings.append(Finding(code, severity, part, message, err, first, fix))

    if u.size and not np.any(u):
        add("all_zeros", f"{what} is all zeros")
        if u.shape != expected:
            add("wrong_shape", f"{OUTPUT[part]} has shape {u.shape}; the math requires {expected}")
        return findings, f"all zeros, shape {u.shape}"
    if match is None:
        if u.shape != expected:
            add(
                "wrong_shape",
                f"{OUTPUT[part]} has shape {u.shape}; the math requires {expected} "
                f"({RULE[part]}), and its entries match no catalogued slip",
            )
            return findings, f"shape {u.shape}, no catalogued operator"
        add(
            f"{prefix}_wrong",
            f"{what} matches neither the right answer nor any catalogued "
            "slip (flip, shift, transpose, padding, scale, channel sum)",
        )
        return findings, "no catalogued operator"

    c, o = match.candidate, match.candidate.orientation
    if o.transpose or c.out_transposed:
        if o.transpose and c.out_transposed:
            how = "uses z transposed (z.T)" if part == "F" else "is computed from eps.T"
        elif o.transpose:
            how = "is transposed (g_w.T)" if part == "G_gw" else "uses the kernel transposed (w.T)"
        else:
            how = f"is transposed ({'x' if part == 'F' else what}.T)"
        add(
            "transposed_axes",
            f"{what} {how}: rows and columns swapped",
            "index every array as (row, column), the same way in every loop: " + right,
        )
        phrases.append(how)
    if o.flips == 2:
        if part == "F":
            add(
                "forward_is_correlation",
                "F computes correlation (the kernel is not flipped), "
                "not the true convolution the seed asks for",
                "flip the kernel: " + right,
            )
            phrases.append("correlation (kernel not flipped)")
        elif part == "G_delta":
            add(
                "delta_flipped",
                "delta uses the kernel flipped: correct for correlation, not for convolution",
                "correlate the padded eps with w itself: " + right,
            )
            phrases.append("kernel flipped: the delta of correlation")
        else:
            add(
                "gw_flipped",
                "g_w is flipped: correct for correlation, not for convolution",
                "flip it on both axes: " + right,
            )
            phrases.append("flipped: the g_w of correlation")
    elif o.flips == 1:
        axis = "rows (axis -2)" if o.flip_rows else "columns (axis -1)"
        subject = "g_w is flipped" if part == "G_gw" else f"{what} flips the kernel"
        add(
            f"{prefix}_half_flipped",
            f"{subject} along its {axis} only",
            "flip both kernel axes or neither: " + right,
        )
        phrases.append(f"flipped along {axis} only")
    if c.channel is not None:
        if part == "F":
            how = f"uses input channel {c.channel} only: the sum over input channels is missing"
        elif part == "G_delta":
            how = f"uses output channel {c.channel} only: the sum over output channels is missing"
        else:
            how = f"uses batch element {c.channel} only: the sum over the batch is missing"
        code = "missing_batch_sum" if part == "G_gw" else "missing_channel_sum"
        add(code, f"{what} {how} (`=` where `+=` belongs?)", right)
        phrases.append(how.split(":")[0])
    phrases += _shift_and_shape(p, part, u, match, add, right)
    if match.interior_only:
        b = p.margin - 1
        fix = (
            right
            if part != "G_delta"
            else "zero-pad eps by kernel_size - 1 on each side "
            "before correlating (a 'full' correlation): " + right
        )
        add(
            f"{prefix}_border",
            f"{what} is right away from the edges but wrong within kernel_size - 1 = {b} of them",
            fix,
        )
        phrases.append("wrong at the borders")
    if abs(match.scale - 1.0) > 1e-6:
        scale = f"{match.scale:.6g}"
        why = ""
        if part == "G_gw" and p.four and abs(match.scale * p.z.shape[0] - 1) < 1e-6:
            scale, why = f"1/N = 1/{p.z.shape[0]}", ": a mean over the batch where G sums"
        add(
            f"{prefix}_scaled",
            f"{what} is {scale} times the right {what}{why}",
            f"remove the factor {scale}: {right}",
        )
        phrases.append(f"{scale} times the right {what}")
    if not match.exact:
        add(
            "low_precision",
            f"{what} agrees only to {match.error:.1e} (float32 arithmetic?)",
            "compute in float64 (do not cast the inputs to float32)",
            "warning",
        )
    if not phrases:
        return findings, _right_verdict(part, expected)
    return findings, ", ".join(phrases)


def _shift_and_shape(p: Problem, part, u, match, add, right) -> list[str]:
    what, (s0, s1) = NAMES[part], match.shift
    kh, kw = p.w.shape[-2:]
    spatial, lead = u.shape[-2:], p.expected[part][:-2]
    same = (*lead, *p.z.shape[-2:])
    full = (*lead, p.z.shape[-2] + kh - 1, p.z.shape[-1] + kw - 1)
    if part == "F" and u.shape == same != p.expected["F"]:
        centre = ((-((kh - 1) // 2), -(kh // 2)), (-((kw - 1) // 2), -(kw // 2)))
        off = "" if s0 in centre[0] and s1 in centre[1] else f", shifted by ({s0}, {s1})"
        add(
            "same_padding",
            f"F pads z for a 'same' output of shape {spatial}{off}; the "
            f"seed's layer is 'valid': {p.expected['F'][-2:]}",
            f"do not pad z: x has shape {RULE['F']}; {right}",
        )
        return ["'same' padding"]
    if part == "F" and u.shape == full != p.expected["F"] and (s0, s1) == (1 - kh, 1 - kw):
        add(
            "full_padding",
            f"F computes the 'full' convolution, shape {spatial}; the seed's "
            f"layer is 'valid': {p.expected['F'][-2:]}",
            f"do not pad z: x has shape {RULE['F']}; {right}",
        )
        return ["'full' padding"]
    if u.shape != p.expected[part]:
        at = "" if (s0, s1) == (0, 0) else f"(j + ({s0}, {s1}))"
        add(
            "wrong_shape",
            f"{OUTPUT[part]} has shape {u.shape}; the math requires {p.expected[part]} "
            f"({RULE[part]}); its entries are the right {OUTPUT[part]}{at} where they overlap",
            f"return {OUTPUT[part]} of shape {p.expected[part]}: {right}",
        )
        return [f"shape {u.shape}"]
    if (s0, s1) == (0, 0):
        return []
    if part == "G_delta" and (s0, s1) == (kh - 1, kw - 1):
        message = f"delta is shifted by ({s0}, {s1}): pad eps by kernel_size - 1 on each side"
    else:
        message = f"{what} is shifted by ({s0}, {s1}): yours(j) = right(j + ({s0}, {s1}))"
    add(f"{PREFIX[part]}_shifted", message, right)
    return [f"shifted by ({s0}, {s1})"]


def _right_verdict(part: str, shape: tuple[int, ...]) -> str:
    return {
        "F": f"true convolution, 'valid', shape {shape}",
        "G_delta": f"the adjoint of true convolution in z, shape {shape}",
        "G_gw": f"the adjoint of true convolution in w, shape {shape}",
    }[part]


def _errors(u: np.ndarray, ref: np.ndarray) -> tuple[float | None, tuple[int, ...] | None]:
    """Largest |u - ref| and the first index (C order) beyond float64 rounding."""
    if u.shape != ref.shape:
        return None, None
    diff = np.abs(u - ref)
    wrong = ~(diff <= EXACT * max(float(np.max(np.abs(ref))), 1e-300))  # NaN counts as wrong
    first = tuple(int(i) for i in np.argwhere(wrong)[0]) if wrong.any() else None
    return float(np.max(diff)), first


FAILURE_FIX = {
    "import_error": "run `python FILE` and fix the first error it reports",
    "raises": "call it yourself on arrays of these shapes and read the traceback",
    "exits": "return the result; never call sys.exit or os._exit in F or G",
    "crashed": "the process died: look for crashing native code or os.kill",
    "timeout": "make it faster (vectorise the inner loops) or allow more with --timeout",
    "wrong_type": "return a NumPy float array (for G, a tuple (delta, g_w) of them)",
}


def failure(part: str, outcome: Outcome) -> Finding:
    """A finding for a call (or, ``part == "file"``, an import) that gave no usable value."""
    code, detail = outcome.failure, outcome.message
    if part == "file":
        message = {
            "import_error": f"the file does not import: {detail}",
            "exits": f"the file {detail} while being imported",
        }.get(code, f"importing the file: {detail}")
    elif code == "raises":
        message = f"{part} raised {detail}"
    elif code == "timeout":
        message = f"{part} {detail} (--timeout)"
    else:
        message = f"{part} {detail}"
    return Finding(code, "error", part, message, fix=FAILURE_FIX[code])


def converted(part: str, note: str) -> Finding:
    """A value that was not a float ndarray (or pair) but could be read as one."""
    return Finding("wrong_type", "error", part, f"{part} {note}", fix=FAILURE_FIX["wrong_type"])


def noisy(part: str, printed: int, head: str) -> Finding:
    start = head.strip().splitlines()[0][:60] if head.strip() else ""
    return Finding(
        "noisy_output",
        "warning",
        part,
        f"{'the file' if part == 'file' else part} printed {printed:,} characters in one call "
        f"(beginning {start!r})",
        fix="remove or guard the prints: graders read the report, not the prints",
    )
