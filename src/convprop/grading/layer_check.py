"""``convprop check --layer ... --convention ...``: one file, one layer, one or more settings.

:func:`check_layer` runs :func:`convprop.grading.layers.judge` on a file, in each setting, and
gathers the verdicts in a :class:`LayerReport` (the same ``ok`` / ``findings`` / ``to_json``
as the seed's :class:`~convprop.grading.Report`, so ``--batch`` and ``--json`` treat both alike).
A part is right when it is right in every setting; its findings are those of the first setting
where it is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convprop.grading.findings import Finding, FindingsOutput
from convprop.grading.layers import PartResult, judge
from convprop.grading.submission import Submission


@dataclass
class LayerReport(FindingsOutput):
    """The verdict on one layer of one file: a :class:`PartResult` per part."""

    source: str
    layer: str
    convention: str
    settings: list[dict]
    seed: int
    parts: dict[str, PartResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.parts.values())

    def __bool__(self) -> bool:
        return self.ok

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.parts.values() for f in r.findings]

    def __str__(self) -> str:
        lines = [f"convprop check: {self.source} ({self.layer}, {self.convention} convention)"]
        for setting in self.settings:
            text = ", ".join(f"{k} {_show(v)}" for k, v in setting.items())
            lines.append(f"  on random float64 arrays (seed {self.seed}): {text}")
        for part, r in self.parts.items():
            first = next((f.code for f in r.findings if f.severity == "error"), "")
            lines.append(f"  {part:<8} {'ok' if r.ok else 'WRONG':<6} {first}".rstrip())
        return "\n".join(lines + self.findings_lines())


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value)


def check_layer(
    path: str | os.PathLike,
    layer: str,
    convention: str,
    settings: list[dict],
    options: dict,
    submission_options: dict | None = None,
) -> LayerReport:
    """Judge ``layer`` of the file at ``path`` in every setting; bad arguments: ``ValueError``.

    ``submission_options`` go to :class:`~convprop.grading.Submission` (e.g. a sandbox).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    seed = int(options.get("seed") or 0)
    report = LayerReport(str(path), layer, convention, [dict(s) for s in settings], seed)
    with Submission(path, **(submission_options or {})) as sub:
        for setting in settings:
            for part, result in judge(sub, layer, convention, setting, options).items():
                kept = report.parts.get(part)
                if kept is None or (kept.ok and not result.ok):
                    report.parts[part] = result
    return report
