"""Assignment files: the issue's example reads; every bad file gets one line naming the key."""

from __future__ import annotations

import pytest

from convprop.grading.assignment import AssignmentError, load, parse
from tests.grading.grade_gallery import ASSIGNMENT, COLUMNS


def test_the_issues_assignment_file_reads_with_its_columns_and_hash(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(ASSIGNMENT)
    a = load(path)
    assert (a.name, a.seed, a.max_points, len(a.sha256)) == ("cnn-backprop-midterm", 0, 20, 64)
    assert a.columns == COLUMNS
    conv = a.questions[0]
    assert (conv.layer, conv.convention, len(conv.settings)) == ("conv2d", "cs231n", 2)
    assert conv.options == {
        "forward": "conv_forward_naive",
        "backward": "conv_backward_naive",
        "kind": "correlation",
        "bias": True,
    }
    assert conv.settings[1] == {
        "input_shape": [2, 3, 7, 9],
        "kernel_shape": [4, 3, 3, 3],
        "stride": 2,
        "padding": 0,
    }
    path.write_text(ASSIGNMENT + "\n# a comment\n")
    assert load(path).sha256 != a.sha256


QUESTION = 'id = "q"\nlayer = "relu"\npoints = { forward = 1 }\n'
SETTING = "[[question.setting]]\ninput_shape = [2, 3]\n"


def _file(question: str = QUESTION, setting: str = SETTING, head: str = 'name = "x"') -> str:
    return f"[assignment]\n{head}\n\n[[question]]\n{question}\n{setting}"


BAD = {
    "unknown layer": (
        _file(QUESTION.replace("relu", "conv3d")),
        "question 'q' layer: unknown layer 'conv3d'; choose one of conv2d, linear",
    ),
    "a part the layer lacks": (
        _file(QUESTION.replace("forward = 1", "forward = 1, dw = 2")),
        "question 'q' points.dw: relu has no part 'dw'; its parts are forward, dx",
    ),
    "missing setting": (_file(setting=""), "question 'q' setting: missing"),
    "points not a number": (
        _file(QUESTION.replace("forward = 1", 'forward = "one"')),
        "question 'q' points.forward: must be a number, got 'one'",
    ),
    "negative points": (
        _file(QUESTION.replace("forward = 1", "forward = -1")),
        "question 'q' points.forward: must be >= 0",
    ),
    "bias not a boolean": (
        _file(QUESTION + 'bias = "yes"\n'),
        "question 'q' bias: must be true or false, got 'yes'",
    ),
    "db without a bias": (
        _file('id = "c"\nlayer = "conv2d"\npoints = { db = 1 }\n'),
        "question 'c' points.db: the question has no bias (set bias = true)",
    ),
    "unknown question key": (
        _file(QUESTION + "stride = 2\n"),
        "question 1: unknown key 'stride'; the keys are id, layer",
    ),
    "unknown convention": (
        _file(QUESTION + 'convention = "pytorch"\n'),
        "question 'q' convention: 'pytorch' is not seed or cs231n",
    ),
    "seed not an integer": (_file(head='name = "x"\nseed = 1.5'), "[assignment] seed: must be"),
    "no name": (_file(head=""), "[assignment] name: missing"),
    "no question": ('[assignment]\nname = "x"\n', "[[question]]: none given"),
    "id with a dot": (_file(QUESTION.replace('"q"', '"q.1"')), "question 1 id: 'q.1' must be"),
    "a setting value of text": (
        _file(setting='[[question.setting]]\ninput_shape = "2x3"\n'),
        "question 'q' setting 1 input_shape: '2x3' is not a number",
    ),
    "not TOML": ("[assignment\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_assignment_gets_one_line_naming_the_key(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(AssignmentError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert expected in message


def test_two_questions_of_one_id_and_a_missing_file(tmp_path):
    question = {"id": "q", "layer": "relu", "points": {"dx": 1}, "setting": [{}]}
    with pytest.raises(AssignmentError, match="question 2 id: 'q' is used twice"):
        parse({"assignment": {"name": "x"}, "question": [question, question]})
    with pytest.raises(AssignmentError, match="cannot read it"):
        load(tmp_path / "missing.toml")
