"""``--model PATH.py:FUNCTION``: model files the tests write, their errors, their checkpoints.

Every run is on the bundled 8x8 digits, one or two epochs of a small residual CNN with
BatchNorm, so each takes well under a second.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint
from convprop.cli import main
from convprop.config import TrainConfig
from convprop.model_file import ModelFileError, build_from_file, is_model_file, parse_spec
from convprop.nn import Module

RESIDUAL = """\
from convprop import nn


class Block(nn.Module):
    def __init__(self, c, rng):
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False, rng=rng)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, z):
        return self.relu(self.bn(self.conv(z)) + z)


def build(in_channels, num_classes, image_size, rng):
    h, w = image_size
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 3, padding=1, rng=rng),
        nn.ReLU(),
        Block(6, rng),
        nn.Flatten(),
        nn.Linear(6 * h * w, num_classes, rng=rng),
    )
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _train(tmp_path, spec, out="run", *extra):
    args = ["train", "--model", spec, "--epochs", "1", "--out", str(tmp_path / out), *extra]
    return main([*args, "--lr", "0.05"])


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err], err
    return err


def test_a_model_spec_is_a_python_file_and_a_function():
    assert is_model_file("my_model.py:build") and is_model_file("/a/b:c/net.py:make")
    assert not is_model_file("resnet") and not is_model_file("net.txt:build")
    assert parse_spec("a/net.py:make")[1] == "make"
    with pytest.raises(ModelFileError, match="expected PATH.py:FUNCTION"):
        parse_spec("net.py:1x")
    with pytest.raises(ValueError, match="expected PATH.py:FUNCTION"):
        TrainConfig(model="net.py:").validate()


def test_an_exception_at_import_names_the_users_file_and_line(tmp_path, capsys):
    path = _write(tmp_path, "broken.py", "import numpy\n\nscale = 1 / 0\n")
    assert _train(tmp_path, f"{path}:build") == 2
    err = _one_line(capsys)
    assert f"{path}, line 3: ZeroDivisionError: division by zero" in err
    assert "Traceback" not in err and not (tmp_path / "run" / "model.npz").exists()
    _write(tmp_path, "syntax.py", "def build(x:\n")
    assert _train(tmp_path, f"{tmp_path / 'syntax.py'}:build") == 2
    assert f"{tmp_path / 'syntax.py'}, line 1: SyntaxError" in _one_line(capsys)


def test_an_exception_in_the_function_names_its_line_not_convprops(tmp_path, capsys):
    path = _write(
        tmp_path,
        "raises.py",
        """\
        from convprop import nn

        def build(**kwargs):
            return nn.Conv2d(1, 4, 3, groups=3)
        """,
    )
    assert _train(tmp_path, f"{path}:build") == 2
    err = _one_line(capsys)
    assert f"{path}, line 4: ValueError: groups=3 must divide" in err and "in build()" in err


def test_a_function_that_returns_no_convprop_module_is_refused(tmp_path, capsys):
    path = _write(tmp_path, "listy.py", "def build(num_classes):\n    return [num_classes]\n")
    assert _train(tmp_path, f"{path}:build") == 2
    assert "returned a builtins.list, not a convprop.nn.Module" in _one_line(capsys)
    _write(tmp_path, "nofn.py", "build = 3\n")
    assert _train(tmp_path, f"{tmp_path / 'nofn.py'}:build") == 2
    assert "defines no function 'build' (build is a int)" in _one_line(capsys)
    assert _train(tmp_path, f"{tmp_path / 'absent.py'}:build") == 2
    assert f"{tmp_path / 'absent.py'}: no such model file" in _one_line(capsys)
    _write(tmp_path, "needy.py", "def build(num_classes, depth):\n    pass\n")
    assert _train(tmp_path, f"{tmp_path / 'needy.py'}:build") == 2
    assert "build() requires 'depth', which convprop does not give" in _one_line(capsys)


def test_kwargs_gets_all_four_keywords_and_a_narrow_signature_only_its_own(tmp_path):
    wide = _write(
        tmp_path,
        "wide.py",
        """\
        from convprop import nn

        def build(**kwargs):
            net = nn.Sequential(nn.Flatten(), nn.Linear(64, kwargs["num_classes"]))
            net.seen = kwargs
            return net
        """,
    )
    net, record = build_from_file(f"{wide}:build", (1, 8, 8), 10, np.random.default_rng(0))
    assert sorted(net.seen) == ["image_size", "in_channels", "num_classes", "rng"]
    assert net.seen["image_size"] == (8, 8) and net.seen["in_channels"] == 1
    assert isinstance(net.seen["rng"], np.random.Generator)
    assert record.path == str(wide) and len(record.sha256) == 64
    narrow = _write(
        tmp_path,
        "narrow.py",
        """\
        from convprop import nn

        def build(num_classes, *, rng, hidden=32):
            return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden, rng=rng), nn.ReLU(),
                                 nn.Linear(hidden, num_classes, rng=rng))
        """,
    )
    assert _train(tmp_path, f"{narrow}:build") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["model"] == f"{narrow}:build" and summary["test_accuracy"] > 0.5


def test_evaluate_rebuilds_the_model_file_and_reports_the_training_accuracy(tmp_path, capsys):
    path = _write(tmp_path, "my_model.py", RESIDUAL)
    assert _train(tmp_path, f"{path}:build") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    ckpt = load_checkpoint(tmp_path / "run" / "model.npz")
    assert ckpt.extra["model_file"]["path"] == str(path)
    assert ckpt.extra["model_file"]["function"] == "build"
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run" / "model.npz"), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["accuracy"] == summary["test_accuracy"]
    assert f"runs the code of the model file {path}" in captured.err


def test_a_changed_or_missing_model_file_is_refused_with_the_reason(tmp_path, capsys):
    path = _write(tmp_path, "my_model.py", RESIDUAL)
    assert _train(tmp_path, f"{path}:build") == 0
    ckpt = str(tmp_path / "run" / "model.npz")
    path.write_text(RESIDUAL + "# edited\n")
    capsys.readouterr()
    assert main(["evaluate", ckpt]) == 2
    err = capsys.readouterr().err
    assert "runs the code of the model file" in err  # the note, then the refusal
    assert f"{path}: the model file has changed since the checkpoint was written" in err
    assert main(["train", "--resume", ckpt, "--epochs", "2"]) == 2
    assert "has changed since" in capsys.readouterr().err
    path.unlink()
    assert main(["evaluate", ckpt]) == 2
    assert f"{path}: no such model file (the checkpoint was trained with it" in (
        capsys.readouterr().err
    )
    path.write_text(RESIDUAL)  # the same bytes again: accepted
    assert main(["evaluate", ckpt]) == 0


def test_resuming_a_model_file_run_equals_an_uninterrupted_run(tmp_path):
    path = _write(tmp_path, "my_model.py", RESIDUAL)
    spec = f"{path}:build"
    flags = ["--batch-size", "128", "--val-split", "0.1"]
    assert (
        main(["train", "--model", spec, "--epochs", "2", "--out", str(tmp_path / "a"), *flags])
        == 0
    )
    assert (
        main(["train", "--model", spec, "--epochs", "1", "--out", str(tmp_path / "b"), *flags])
        == 0
    )
    assert main(["train", "--resume", str(tmp_path / "b" / "model.npz"), "--epochs", "2"]) == 0
    whole, resumed = (load_checkpoint(tmp_path / r / "model.npz") for r in "ab")
    assert sorted(whole.model) == sorted(resumed.model)
    for name, value in whole.model.items():
        np.testing.assert_array_equal(resumed.model[name], value, err_msg=name)
    first, second = (json.loads((tmp_path / r / "summary.json").read_text()) for r in "ab")
    assert first["test_accuracy"] == second["test_accuracy"] and second["epochs"] == 2


def test_a_module_built_in_python_names_the_way_to_rebuild_it(tmp_path, capsys):
    from convprop.data import load_digits
    from convprop.model_file import build_from_file as build
    from convprop.train import train

    path = _write(tmp_path, "my_model.py", RESIDUAL)
    split = load_digits()
    net, _ = build(f"{path}:build", split.input_shape, 10, np.random.default_rng(0))
    config = TrainConfig(epochs=1)
    train(config, tmp_path / "custom", split=split, model=net, progress=False, log=lambda *a: 0)
    assert load_checkpoint(tmp_path / "custom" / "model.npz").config["model"] == "custom"
    assert main(["evaluate", str(tmp_path / "custom" / "model.npz")]) == 2
    err = _one_line(capsys)
    assert "built in Python" in err and "--model FILE.py:FUNCTION" in err
    # naming the file that builds it makes the checkpoint one convprop can rebuild
    net, _ = build(f"{path}:build", split.input_shape, 10, np.random.default_rng(0))
    config = TrainConfig(epochs=1, model=f"{path}:build")
    summary = train(
        config, tmp_path / "named", split=split, model=net, progress=False, log=lambda *a: 0
    )
    assert main(["evaluate", str(tmp_path / "named" / "model.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["test_accuracy"]
    with pytest.raises(TypeError, match="takes a convprop nn.Module"):
        train(config, tmp_path / "x", split=split, model="resnet", progress=False)
    assert isinstance(net, Module)


def test_an_exception_in_the_models_forward_names_the_users_line(tmp_path, capsys):
    path = _write(
        tmp_path,
        "forward.py",
        """\
        from convprop import nn


        class Net(nn.Module):
            def __init__(self, rng):
                self.fc = nn.Linear(64, 10, rng=rng)

            def forward(self, z):
                return self.fc(z)  # forgot to flatten


        def build(rng):
            return Net(rng)
        """,
    )
    assert _train(tmp_path, f"{path}:build") == 1
    err = _one_line(capsys)
    assert err.startswith(f"convprop train: error: {path}, line 9: ValueError:"), err
