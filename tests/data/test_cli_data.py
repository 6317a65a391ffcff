"""convprop train/evaluate on the user's data: --dataset folder|npz, --augment, --normalize."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint
from convprop.cli import main
from tests.data.images import write_data_dir, write_image, write_npz

pytest.importorskip("PIL")

QUICK = ["--epochs", "1", "--batch-size", "6", "--lr", "0.05"]


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVPROP_CACHE", str(tmp_path / "cache"))


def _accuracy_printed(text: str) -> float:
    return float(text.split("accuracy ")[1].split("%")[0])


def test_folder_with_augment_and_normalize_then_evaluate(tmp_path, capsys):
    data, out = write_data_dir(tmp_path / "d", colour=True), tmp_path / "run"
    args = ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "cnn"]
    code = main([*args, *QUICK, "--augment", "crop=2,hflip", "--normalize", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_examples"] == 18 and summary["test_examples"] == 6
    ckpt = load_checkpoint(out / "model.npz")
    assert ckpt.config["augment"] == "crop=2,hflip" and ckpt.config["normalize"] is True
    mean, std = ckpt.extra["normalisation"]
    assert len(mean) == len(std) == 3 and ckpt.extra["input_shape"] == [3, 8, 8]
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz")]) == 0  # data dir and mean/std from the run
    printed = capsys.readouterr().out
    assert "on folder (test set, 6 examples)" in printed
    assert _accuracy_printed(printed) == pytest.approx(100 * summary["test_accuracy"], abs=0.01)


def test_npz_trains_and_evaluates(tmp_path, capsys):
    path, out = write_npz(tmp_path / "d.npz"), tmp_path / "run"
    assert main(["train", "--dataset", "npz", "--data-dir", str(path), "--model", "mlp", *QUICK,
                 "--out", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_examples"] == 24 and summary["config"]["dataset"] == "npz"
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert "mlp on npz (test set, 6 examples)" in capsys.readouterr().out


def test_resume_with_augmentation_equals_an_uninterrupted_run(tmp_path):
    data = write_data_dir(tmp_path / "d")
    args = ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "cnn",
            "--batch-size", "4", "--augment", "crop=1,hflip", "--normalize"]  # fmt: skip
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "full")]) == 0
    assert main([*args, "--epochs", "1", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "--resume", str(tmp_path / "part" / "model.npz"), "--epochs", "2"]) == 0
    full = load_checkpoint(tmp_path / "full" / "model.npz").model
    part = load_checkpoint(tmp_path / "part" / "model.npz").model
    for name in full:
        np.testing.assert_array_equal(full[name], part[name])
    plain = ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "cnn",
             "--batch-size", "4", "--normalize", "--epochs", "2"]  # fmt: skip
    assert main([*plain, "--out", str(tmp_path / "plain")]) == 0
    unaugmented = load_checkpoint(tmp_path / "plain" / "model.npz").model
    assert not all(np.array_equal(full[k], unaugmented[k]) for k in full)  # it did augment


def _break_corrupt(d):
    (d / "train" / "b" / "01.png").write_bytes(b"junk")
    return d / "train" / "b" / "01.png", "cannot read the image"


def _break_size(d):
    path = write_image(d / "train" / "a" / "99.png", np.zeros((5, 5), np.uint8))
    return path, "the image is 5x5 but"


def _break_empty(d):
    (d / "train" / "empty").mkdir()
    return d / "train" / "empty", "empty class folder"


def _break_train(d):
    (d / "train").rename(d / "training")
    return d, "no train/ folder"


@pytest.mark.parametrize("damage", [_break_corrupt, _break_size, _break_empty, _break_train])
def test_bad_folders_exit_2_in_one_line_and_write_nothing(tmp_path, capsys, damage):
    data = write_data_dir(tmp_path / "d")
    named, message = damage(data)
    out = tmp_path / "run"
    code = main(
        ["train", "--dataset", "folder", "--data-dir", str(data), *QUICK, "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"convprop train: error: {named}: ") and message in err
    assert not out.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": np.full(6, 9)}, "y_test holds the label 9"),
        ({"x_train": np.zeros((24, 64), np.uint8)}, "x_train has shape (24, 64)"),
        ({"x_test": None}, "missing the array x_test"),
    ],
)
def test_bad_npz_exits_2_and_leaves_earlier_results_untouched(
    tmp_path, capsys, overrides, message
):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", *QUICK, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    path = write_npz(tmp_path / "bad.npz", **overrides)
    args = ["train", "--dataset", "npz", "--data-dir", str(path), *QUICK, "--out", str(out)]
    capsys.readouterr()
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: " in err and message in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--augment", "crop=2,rotate"], "--augment 'crop=2,rotate': cannot read 'rotate'"),
        (["--normalize"], "--normalize is for folder and npz data: digits is standardised"),
        (["--image-size", "8,8"], "--image-size is for folder data, not digits"),
        (["--image-size", "8,x"], "argument --image-size: expected two positive integers H,W"),
        (["--dataset", "folder"], "the folder dataset needs --data-dir"),
    ],
)
def test_bad_data_flags_exit_2_in_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    try:
        code = main(["train", *args, *QUICK, "--out", str(out)])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_image_size_resizes_on_the_command_line(tmp_path):
    data = tmp_path / "d"
    write_data_dir(data)
    write_image(data / "train" / "a" / "99.png", np.zeros((11, 9), np.uint8))
    out = tmp_path / "run"
    args = ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "mlp"]
    assert main([*args, "--image-size", "6x6", *QUICK, "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "model.npz")
    assert ckpt.config["image_size"] == [6, 6] and ckpt.extra["input_shape"] == [1, 6, 6]
    assert main(["evaluate", str(out / "model.npz")]) == 0  # resized the same way


def test_evaluate_and_resume_reuse_the_stored_mean_and_std(tmp_path, capsys):
    data, out = write_data_dir(tmp_path / "d"), tmp_path / "run"
    args = ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "mlp", *QUICK]
    assert main([*args, "--normalize", "--out", str(out)]) == 0
    stored = load_checkpoint(out / "model.npz").extra["normalisation"]
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz")]) == 0
    before = capsys.readouterr().out.splitlines()[0]
    # the training set changes (a white image added): measuring again would give other values
    write_image(data / "train" / "a" / "white.png", np.full((8, 8), 255, np.uint8))
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == before  # same inputs, same loss
    assert main(["train", "--resume", str(out / "model.npz"), "--epochs", "2"]) == 0
    assert load_checkpoint(out / "model.npz").extra["normalisation"] == stored
