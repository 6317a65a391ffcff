"""Findings as data: one :class:`Finding` per thing wrong, and the :class:`Report` that holds them.

Every finding has a stable machine name, its ``code`` (listed in :data:`CODES`), a
``severity`` (``"error"`` makes the report not ok; ``"warning"`` and ``"info"`` do not), the
``part`` it is about (``"F"``, ``"G_delta"``, ``"G_gw"``; ``"G"`` for a combined ``G`` that fails
as a whole; ``"file"`` for the file itself), a readable ``message``, the largest error against the
right answer and the first index where it is wrong (when the shapes agree), and a one-line
``fix``.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

CODES: dict[str, str] = {
    # what F computes
    "forward_is_correlation": "F is correlation: the kernel is not flipped",
    "forward_half_flipped": "F flips the kernel along one axis only",
    "forward_shifted": "F's output is shifted (an index offset other than kernel_size - 1)",
    "same_padding": "F pads z for a 'same' output instead of 'valid'",
    "full_padding": "F computes the 'full' convolution instead of 'valid'",
    "forward_border": "F is right except within kernel_size - 1 of the edges",
    "forward_scaled": "F is a multiple of the right output",
    "forward_wrong": "F matches no catalogued operator",
    # what G computes
    "delta_flipped": "delta uses the kernel flipped: correct for correlation",
    "delta_half_flipped": "delta flips the kernel along one axis only",
    "delta_shifted": "delta is shifted: eps not padded by kernel_size - 1 on each side",
    "delta_border": "delta is right except near the edges: eps not zero-padded",
    "delta_scaled": "delta is a multiple of the right delta",
    "delta_wrong": "delta matches no catalogued operator",
    "gw_flipped": "g_w is flipped: correct for correlation",
    "gw_half_flipped": "g_w is flipped along one axis only",
    "gw_shifted": "g_w is shifted",
    "gw_scaled": "g_w is a multiple of the right g_w (e.g. a mean over the batch)",
    "gw_wrong": "g_w matches no catalogued operator",
    # either
    "transposed_axes": "rows and columns swapped: x.T, w.T, z.T, delta.T or g_w.T",
    "missing_channel_sum": "4-D: one channel used where F (input) or delta (output) sums them",
    "missing_batch_sum": "4-D: g_w uses one batch element where it sums over the batch",
    "all_zeros": "the output is all zeros",
    "wrong_shape": "the output's shape is not the one the math requires",
    "low_precision": "right only to float32 rounding",
    "not_finite": "the output holds NaN or infinity",
    "not_adjoint_of_own_F": "G fails the dot-product test against the user's own F",
    "adjoint_of_own_F": "info: G is the exact adjoint of the user's own (wrong) F",
    # any layer (convprop.grading.layers)
    "wrong_value": "the part matches neither the right answer nor any catalogued slip",
    "not_run": "the part was not run: the call it needs gave no result",
    "divided_by_batch": "a gradient divided by the batch size N (a mean where the sum belongs)",
    "hw_swapped": "H and W (rows and columns) swapped",
    "db_summed_over_all": "the bias gradient summed over every axis, not per output channel",
    "bias_missing": "the forward pass leaves out the bias",
    "stride_ignored": "the stride is ignored (stride 1 used)",
    # conv2d in any geometry
    "forward_is_convolution": "F flips the kernel: true convolution where correlation is asked",
    "stride_ignored_in_backward": "the backward pass ignores the stride (windows at i, not s*i)",
    "padding_cut_empty": "dx = dx_pad[:, :, p:-p, p:-p] is empty when the padding p is 0",
    # linear, relu, max_pool2d
    "dx_not_reshaped": "dx has the flattened shape (N, D), not the shape of x",
    "relu_mask_missing": "relu's dx passes dout through where x <= 0 too",
    "relu_mask_inverted": "relu's dx passes dout where x < 0 instead of x > 0",
    "pool_grad_spread": "max-pool's dx sends dout to every entry of the window, not its max",
    "pool_is_average": "max-pool's forward averages the window instead of taking its max",
    # softmax_cross_entropy
    "softmax_overflow": "exp of large logits overflows: the max is not subtracted first",
    "loss_summed": "the loss (and dx) summed over the batch where the mean is asked",
    "missing_true_class_minus_one": "dx lacks the -1 at the true class: softmax(x) / N only",
    # sgd_momentum
    "step_applied_twice": "the step size applied twice: theta += alpha * v (the seed's Q5)",
    "momentum_sign": "the update goes uphill: a sign slip in v or theta",
    "velocity_not_kept": "the velocity is not kept between steps: plain SGD",
    # running the code
    "import_error": "the file does not import",
    "missing_function": "the file defines no function of that name",
    "raises": "the function raised an exception",
    "exits": "the function called sys.exit or ended its process",
    "crashed": "the process running the function was killed",
    "timeout": "the function ran past the time limit (--timeout)",
    "wrong_type": "the function returned something other than a float ndarray (or pair)",
    "noisy_output": "the function printed a lot",
}
SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    """One thing wrong (or worth knowing) about one part of a submission."""

    code: str
    severity: str
    part: str
    message: str
    max_abs_error: float | None = None
    first_wrong_index: tuple[int, ...] | None = None
    fix: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES or self.severity not in SEVERITIES:
            raise ValueError(f"unknown finding {self.code!r} of severity {self.severity!r}")
        if self.max_abs_error is not None:
            self.max_abs_error = float(self.max_abs_error)
        if self.first_wrong_index is not None:
            self.first_wrong_index = tuple(int(i) for i in self.first_wrong_index)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.first_wrong_index is not None:
            d["first_wrong_index"] = list(self.first_wrong_index)
        return d


class FindingsOutput:
    """What a report's ``findings`` give: their codes, and the list or JSON for graders
    (shared by :class:`Report` and :class:`~convprop.grading.layer_check.LayerReport`)."""

    findings: list[Finding]

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.findings]

    def to_json(self, indent: int | None = 2) -> str:
        """The findings as a JSON list of objects (``[]`` for a right submission)."""
        return json.dumps(self.to_list(), indent=indent)

    def findings_lines(self, at: str = "first at") -> list[str]:
        """The text after a report's header: each finding (severity, part, code, message, the
        largest error and ``at`` the first wrong index, the fix), then OK or NOT OK with the
        counts."""
        lines: list[str] = []
        for f in self.findings:
            lines.append("")
            lines += _wrapped(f"{f.severity:<8} {f.part:<8} ", f"{f.code}: {f.message}")
            if f.max_abs_error is not None:
                first = "" if f.first_wrong_index is None else f", {at} {f.first_wrong_index}"
                lines.append(f"{'':18}max abs error {f.max_abs_error:.3g}{first}")
            if f.fix:
                lines += _wrapped(" " * 18, f"fix: {f.fix}")
        count = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        errors = count["error"]
        rest = [_plural(count[s], s if s == "warning" else "note") for s in SEVERITIES[1:]]
        tail = f" ({', '.join(r for r in rest if r)})" if any(rest) else ""
        lines.append("")
        if errors:
            lines.append(f"NOT OK: {errors} error{'s' * (errors != 1)}{tail}")
        else:
            lines.append(f"OK: every part checked is right{tail}")
        return lines


@dataclass
class Report(FindingsOutput):
    """The diagnosis of one submission: ``ok``, the findings, and what each part computes."""

    source: str
    input_shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    seed: int
    findings: list[Finding] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # part -> what it computes

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings and notes allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = [
            f"convprop check: {self.source}",
            f"  on random float64 arrays (seed {self.seed}): z {self.input_shape}, "
            f"w {self.kernel_shape}",
        ]
        for part, verdict in self.verdicts.items():
            wrong = any(f.part == part and f.severity == "error" for f in self.findings)
            unknown = verdict.startswith(("not ", "no result"))
            lines.append(
                f"  {part:<8} {'WRONG' if wrong else '--' if unknown else 'ok':<6} {verdict}"
            )
        return "\n".join(lines + self.findings_lines(at="first at index"))


def _plural(n: int, word: str) -> str:
    return "" if n == 0 else f"{n} {word}{'s' * (n != 1)}"


def _wrapped(first: str, text: str, width: int = 99) -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=" " * len(first)
    ) or [first]
