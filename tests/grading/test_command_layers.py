"""``convprop check`` for any layer and convention: options, reports, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json

import pytest

from convprop.cli import main
from tests.grading.submissions.layer_gallery import SLIPS, source
from tests.grading.submissions.layer_sources import ADAPTERS, CORES

STRIDED = ["--input-shape", "2,3,7,9", "--kernel-shape", "4,3,3,3", "--stride", "2"]


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("convention", ["seed", "cs231n"])
def test_a_right_conv_in_any_geometry_exits_0(tmp_path, capsys, convention):
    path = _write(tmp_path, "mine.py", CORES["conv2d"][1] + ADAPTERS["conv2d"][convention])
    argv = ["check", path, "--convention", convention, *STRIDED, "--padding", "1", "--bias"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"(conv2d, {convention} convention)" in out and "OK: every part" in out
    for part in ("forward", "dx", "dw", "db"):
        assert f"  {part:<8} ok" in out


def test_a_slip_exits_1_with_json_findings(tmp_path, capsys):
    layer, core, changes, _, _ = SLIPS["conv_stride_ignored_in_backward"]
    path = _write(tmp_path, "mine.py", source(layer, core, changes, "cs231n"))
    assert main(["check", path, "--convention", "cs231n", *STRIDED, "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert [(f["part"], f["code"]) for f in findings] == [
        ("dx", "stride_ignored_in_backward"),
        ("dw", "stride_ignored_in_backward"),
    ]
    assert findings[0]["first_wrong_index"] is not None and findings[0]["fix"]


@pytest.mark.parametrize(
    ("name", "layer", "flags"),
    [
        ("softmax_overflow", "softmax_cross_entropy", []),  # judged at scale 1 and 1000
        ("momentum_step_applied_twice", "sgd_momentum", ["--steps", "3"]),
        ("pool_grad_spread", "max_pool2d", ["--kernel-size", "2", "--stride", "2"]),
        (
            "linear_dw_transposed",
            "linear",
            ["--input-shape", "4,6", "--out-features", "3", "--bias"],
        ),
        ("relu_mask_inverted", "relu", []),
    ],
)
def test_every_layer_from_the_command_line(tmp_path, capsys, name, layer, flags):
    _, core, changes, expected, _ = SLIPS[name]
    for convention in ("seed", "cs231n"):
        right = _write(tmp_path, "right.py", source(layer, CORES[layer][1], [], convention))
        wrong = _write(tmp_path, "wrong.py", source(layer, core, changes, convention))
        base = ["check", "--layer", layer, "--convention", convention, *flags]
        assert main([*base[:1], right, *base[1:]]) == 0
        assert main([*base[:1], wrong, *base[1:], "--json"]) == 1
        out = capsys.readouterr().out
        codes = {(f["part"], f["code"]) for f in json.loads(out[out.index("[") :])}
        assert set(expected.items()) <= codes


def test_function_names_can_be_given(tmp_path, capsys):
    text = (
        CORES["softmax_cross_entropy"][1] + "\n\ndef my_loss(x, y):\n    return softmax_ce(x, y)\n"
    )
    path = _write(tmp_path, "mine.py", text)
    argv = ["check", path, "--layer", "softmax_cross_entropy", "--convention", "cs231n"]
    assert main(argv) == 1
    assert "no function named 'softmax_loss'" in capsys.readouterr().out
    assert main([*argv, "--function", "my_loss"]) == 0


def test_a_folder_in_the_cs231n_convention(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("conv_db_summed_over_all", "conv_bias_missing"):
        layer, core, changes, _, _ = SLIPS[name]
        _write(folder, f"{name}.py", source(layer, core, changes, "cs231n"))
    _write(folder, "right.py", CORES["conv2d"][0] + ADAPTERS["conv2d"]["cs231n"])
    assert main(["check", "--batch", str(folder), "--convention", "cs231n", *STRIDED]) == 1
    captured = capsys.readouterr()
    assert "conv_bias_missing.py,False,1,1,bias_missing,forward: out leaves" in captured.out
    assert "right.py,True,0,0,," in captured.out
    assert "1 of 3 submissions right" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["--layer", "relu", "--stride", "2"],  # an option the layer does not take
        ["--layer", "linear", "--input-shape", "4,x"],
        ["--layer", "max_pool2d", "--input-shape", "1,1,2,2", "--kernel-size", "3"],
        ["--convention", "cs231n", "--input-shape", "8,8", "--kernel-shape", "3,3"],
        ["--convention", "cs231n", "--delta", "d"],
        ["--stride", "2", "--timeout", "0"],
    ],
)
def test_bad_command_lines_exit_2(tmp_path, capsys, argv):
    path = _write(tmp_path, "mine.py", CORES["relu"][1])
    assert main(["check", path, *argv]) == 2
    assert "convprop check: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["--layer", "lstm"], ["--convention", "caffe"], ["--kind", "fft"]]
)
def test_unknown_choices_exit_2(argv):
    with pytest.raises(SystemExit) as stop:
        main(["check", "f.py", *argv])
    assert stop.value.code == 2
