"""The layer judges on the gallery: right files pass every part, each slip is named exactly."""

from __future__ import annotations

import pytest

from convprop.grading import Submission
from convprop.grading.layers import LAYER_PARTS, judge
from tests.grading.submissions.layer_gallery import (
    OPTIONS,
    SETTINGS,
    SLIPS,
    expected_code,
    source,
)
from tests.grading.submissions.layer_sources import CORES

CONVENTIONS = ("seed", "cs231n")
# slips whose output has another shape than the answer: no largest error, no first index
SHAPE_SLIPS = {
    "padding_cut_empty",
    "db_summed_over_all",
    "hw_swapped",
    "dx_not_reshaped",
    "transposed_axes",
    "stride_ignored",
}


def _judge(tmp_path, text, layer, convention, settings, options=None):
    path = tmp_path / "mine.py"
    path.write_text(text)
    opts = {**OPTIONS.get(layer, {}), **(options or {})}
    with Submission(path) as sub:
        return [judge(sub, layer, convention, setting, opts) for setting in settings]


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("variant", ["loops", "vectorised"])
@pytest.mark.parametrize("layer", list(LAYER_PARTS))
def test_right_submissions_pass_every_part(tmp_path, layer, variant, convention):
    core = CORES[layer][variant == "vectorised"]
    results = _judge(
        tmp_path, source(layer, core, [], convention), layer, convention, SETTINGS[layer]
    )
    for result in results:
        assert tuple(result) == LAYER_PARTS[layer]
        wrong = {p: [f.code for f in r.findings] for p, r in result.items() if not r.ok}
        assert wrong == {}
        # nor a warning: a right float64 file is compared with a float64 reference
        warned = {p: [f.code for f in r.findings] for p, r in result.items() if r.findings}
        assert warned == {}


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", list(SLIPS))
def test_each_slip_is_named_in_its_part(tmp_path, name, convention):
    layer, core, changes, expected, settings = SLIPS[name]
    results = _judge(
        tmp_path,
        source(layer, core, changes, convention),
        layer,
        convention,
        settings or SETTINGS[layer],
    )
    for result in results:
        got = {p: r.findings[0].code for p, r in result.items() if not r.ok}
        want = {p: expected_code(code, convention) for p, code in expected.items()}
        assert got == want
        for part in want:
            finding = result[part].findings[0]
            assert finding.fix and finding.message
            if finding.code not in SHAPE_SLIPS:
                assert finding.max_abs_error is not None and finding.first_wrong_index is not None
