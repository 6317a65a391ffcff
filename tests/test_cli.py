"""The command line end to end on tiny runs: outputs, exit codes, messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from convprop.cli import main
from convprop.data import write_idx


def _mnist_dir(tmp_path, n_train=256, n_test=64):
    rng = np.random.default_rng(0)
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for k, label in enumerate(labels):  # a bright bar whose row says the class
            images[k, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return tmp_path


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "convprop 0.1.0" in capsys.readouterr().out
    assert main([]) == 2


def test_train_then_evaluate_on_digits(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--epochs", "2", "--out", str(out), "--lr", "0.1"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["test_accuracy"] > 0.8
    for key in ("final_train_loss", "train_seconds", "examples_per_second"):
        assert summary[key] > 0
    assert main(["evaluate", str(out / "model.npz")]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "true\\pred" in printed
    assert (out / "confusion.png").stat().st_size > 0


def test_existing_results_are_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    before = (out / "model.npz").read_bytes()
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert (out / "model.npz").read_bytes() == before
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--overwrite",
                "--seed",
                "3",
            ]
        )
        == 0
    )


def test_resume_from_the_command_line_trains_the_remaining_epochs(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out / "model.npz"), "--epochs", "2"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
    assert main(["train", "--resume", str(out / "model.npz"), "--model", "cnn"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "nan"], "--lr must be a positive"),
        (["--batch-size", "0"], "--batch-size must be a positive"),
        (["--batch-size", "5000"], "larger than the training set"),
        (["--momentum", "1.5"], "--momentum must lie in"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/folder"], "train-images-idx3-ubyte"),
        (["--resume", "/nonexistent/model.npz"], "no such checkpoint"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    code = main(["train", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_mnist_idx_files_with_lenet5(tmp_path):
    data = _mnist_dir(tmp_path)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                "mnist",
                "--data-dir",
                str(data),
                "--model",
                "lenet5",
                "--lr",
                "0.01",
                "--epochs",
                "3",
                "--batch-size",
                "32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] > 0.5


def test_exam_json_reports_the_seed_formulas(capsys):
    assert main(["exam", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"question", "claim", "agrees", "max_abs_error"} <= set(rows[0])
    by_claim = {(r["question"], r["claim"]): r for r in rows}
    q23 = [r for (q, _), r in by_claim.items() if q == "Q2.3"]
    assert q23 and all(r["agrees"] for r in q23)
    q24 = [r for (q, c), r in by_claim.items() if q == "Q2.4" and "G_delta" in c]
    q25 = [r for (q, c), r in by_claim.items() if q == "Q2.5"]
    assert not q24[0]["agrees"] and "pad eps" in q24[0]["correct"]
    assert not q25[0]["agrees"] and "flip" in q25[0]["correct"]


def test_sigint_writes_a_checkpoint_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convprop.cli",
            "train",
            "--model",
            "mlp",
            "--epochs",
            "500",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 60
    while not (out / "model.npz").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "convprop train --resume" in stderr
    from convprop.checkpoint import load_checkpoint

    assert load_checkpoint(out / "model.npz").progress["epoch"] >= 1


def test_demo_reaches_97_percent_on_digits(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.97, summary["test_accuracy"]
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(("key", "remedy"), [("dataset", "(pass --dataset)"), ("model", "")])
def test_evaluate_names_the_key_missing_from_the_checkpoint(tmp_path, capsys, key, remedy):
    import dataclasses

    from convprop.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "model.npz")
    config = {k: v for k, v in ckpt.config.items() if k != key}
    broken = save_checkpoint(tmp_path / "old.npz", dataclasses.replace(ckpt, config=config))
    capsys.readouterr()
    assert main(["evaluate", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert f"{broken}: the checkpoint's configuration lacks the key '{key}'" in err
    assert remedy in err
    if key == "dataset":  # and --dataset is the way round it
        assert main(["evaluate", str(broken), "--dataset", "digits", "--out", str(out)]) == 0


def test_train_writes_its_curves_and_a_diverging_run_prints_one_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "curves.png").stat().st_size > 0
    result = subprocess.run(
        [sys.executable, "-m", "convprop", "train", "--lr", "1e6", "--epochs", "1"]
        + ["--out", str(tmp_path / "diverged")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert "training diverged" in result.stderr and "RuntimeWarning" not in result.stderr


def test_the_choices_come_from_the_registries(capsys):
    from convprop.cli import COMMANDS, build_parser
    from convprop.config import OPTIMIZERS, SCHEDULES
    from convprop.data import DATASETS
    from convprop.experiments import EXPERIMENTS
    from convprop.models import MODELS
    from convprop.nn.init import INITIALISERS

    parser = build_parser()
    for flag, registry in (
        ("--optimizer", OPTIMIZERS),
        ("--schedule", SCHEDULES),
        ("--dataset", DATASETS),
        ("--model", MODELS),
        ("--init", INITIALISERS),
    ):
        for name in registry:
            args = parser.parse_args(["train", flag, name])
            assert getattr(args, flag[2:]) == name
        with pytest.raises(SystemExit):
            parser.parse_args(["train", flag, "no-such-name"])
        assert "no-such-name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    printed = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    assert all(name in printed and command.help in printed for name, command in COMMANDS.items())
    for name in EXPERIMENTS:
        assert parser.parse_args(["experiment", name]).experiment == name


def test_curves_say_which_loss_is_which(tmp_path, monkeypatch):
    from convprop import plots

    plt = plots.pyplot()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.2 / e}
        | {"train_accuracy": 0.5, "test_accuracy": 0.5}
        for e in (1, 2)
    ]
    plots.plot_curves(history, tmp_path / "a.png", label_smoothing=0.1)
    plots.plot_curves(history, tmp_path / "b.png")
    legends = [[t.get_text() for t in f.axes[0].get_legend().get_texts()] for f in figures]
    assert legends[0] == ["train loss (label smoothing 0.1)", "test cross-entropy"]
    assert legends[1] == ["train cross-entropy", "test cross-entropy"]


def test_pyproject_license_is_the_spdx_string_setuptools_accepts_without_warning():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"  # a table ({text = ...}) warns on every install
    assert "setuptools>=77" in data["build-system"]["requires"]  # the first to take the string
