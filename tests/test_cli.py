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
