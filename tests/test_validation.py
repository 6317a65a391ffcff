"""``--val-split`` and ``--patience``: the seeded split, per-epoch validation, early stopping
that keeps the best epoch's checkpoint, and a resumed run that stops where an uninterrupted
one does."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint
from convprop.cli import main
from convprop.config import TrainConfig
from convprop.data import ArrayDataset, Split
from convprop.validation import best_epoch, hold_out, should_stop


def test_the_split_is_seeded_disjoint_and_complete():
    ids = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)  # each image its own index
    data = ArrayDataset(ids, np.arange(100) % 10)
    split = Split("ids", data, data, 10, (1, 1, 1))
    train, val = hold_out(split, 0.2, seed=3)
    again, val_again = hold_out(split, 0.2, seed=3)
    np.testing.assert_array_equal(val.images, val_again.images)
    np.testing.assert_array_equal(train.train.images, again.train.images)
    held, kept = set(val.images.ravel()), set(train.train.images.ravel())
    assert len(held) == 20 and not held & kept and held | kept == set(range(100))
    assert np.all(np.diff(train.train.images.ravel()) > 0)  # the training order is kept
    assert train.test is split.test  # the test set is never touched
    _, other = hold_out(split, 0.2, seed=4)
    assert set(other.images.ravel()) != held
    assert hold_out(split, 0.0, seed=0) == (split, None)
    with pytest.raises(ValueError, match="leaves no validation examples"):
        hold_out(split, 1e-3, seed=0)


def test_early_stopping_reads_the_history():
    history = [{"val_loss": v} for v in (0.9, 0.5, 0.6, 0.55, 0.7)]
    assert best_epoch(history) == 1
    assert not should_stop(history[:3], 2) and should_stop(history[:4], 2)
    assert not should_stop(history, 0) and best_epoch([{"test_loss": 1.0}]) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"val_split": 1.0}, "--val-split must lie in"),
        ({"val_split": -0.1}, "--val-split must lie in"),
        ({"patience": -1}, "--patience must be >= 0"),
        ({"patience": 2}, "give --val-split FRACTION too"),
        ({"model": "resnet", "depth": 10}, r"--depth must be 6n\+2"),
        ({"model": "resnet", "width": 0}, "--width must be a positive integer"),
        ({"model": "cnn", "depth": 8}, "--width and --depth shape the resnet model, not 'cnn'"),
    ],
)
def test_bad_validation_and_resnet_settings_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes).validate()


def _run(tmp_path, out, *extra):
    args = ["train", "--model", "mlp", "--lr", "0.3", "--out", str(tmp_path / out), *extra]
    return main(args)


def test_validation_is_reported_every_epoch(tmp_path, capsys):
    assert _run(tmp_path, "v", "--epochs", "2", "--val-split", "0.25") == 0
    with open(tmp_path / "v" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(0 < float(r["val_accuracy"]) <= 1 for r in rows)
    assert "val loss" in capsys.readouterr().out
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["train_examples"] == 1438 - round(0.25 * 1438)
    assert summary["best_epoch"] in (1, 2) and "checkpoint" not in summary
    assert not (tmp_path / "v" / "last.npz").exists()  # without patience: model.npz only


def test_patience_stops_early_and_keeps_the_best_epoch(tmp_path, capsys):
    flags = ("--epochs", "40", "--val-split", "0.2", "--patience", "2")
    assert _run(tmp_path, "p", *flags) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    best, epochs = summary["best_epoch"], summary["epochs"]
    assert summary["stopped_early"] and epochs == best + 2 < 40
    assert "early stopping" in printed and f"model.npz holds epoch {best}" in printed
    kept = load_checkpoint(tmp_path / "p" / "model.npz")
    last = load_checkpoint(tmp_path / "p" / "last.npz")
    assert kept.progress["epoch"] == best and last.progress["epoch"] == epochs
    history = last.extra["history"]
    assert summary["test_accuracy"] == history[best - 1]["test_accuracy"]
    assert summary["last_epoch_test_accuracy"] == history[-1]["test_accuracy"]
    assert summary["best_val_loss"] == min(r["val_loss"] for r in history)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "p" / "model.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["test_accuracy"]
    # resuming a run that has stopped does not train on
    assert main(["train", "--resume", str(tmp_path / "p" / "last.npz"), "--epochs", "40"]) == 0
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["epochs"] == epochs

    # interrupted after one epoch and resumed from last.npz: the same run, the same stop
    assert _run(tmp_path, "q", *flags[2:], "--epochs", "1") == 0
    assert main(["train", "--resume", str(tmp_path / "q" / "last.npz"), "--epochs", "40"]) == 0
    for name in ("model.npz", "last.npz"):
        a, b = (load_checkpoint(tmp_path / r / name) for r in "pq")
        assert a.progress["epoch"] == b.progress["epoch"]
        for key, value in a.model.items():
            np.testing.assert_array_equal(b.model[key], value, err_msg=f"{name} {key}")


def test_normalize_is_measured_on_the_training_set_left_after_the_split(tmp_path):
    from convprop.data.transforms import channel_stats
    from convprop.run import prepare

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 2, 6, 6), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    config = TrainConfig(
        dataset="npz",
        data_dir=str(tmp_path / "d.npz"),
        model="mlp",
        normalize=True,
        val_split=0.25,
        epochs=1,
        batch_size=8,
    )
    run = prepare(config, tmp_path / "run")
    raw = hold_out(
        Split("d", ArrayDataset(x / np.float32(255), y), ArrayDataset(x[:8], y[:8]), 4, (2, 6, 6)),
        0.25,
        config.seed,
    )[0]
    mean, std = channel_stats(raw.train.images)
    np.testing.assert_allclose(run.split.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(run.split.std, std, rtol=1e-5)
    np.testing.assert_allclose(run.split.train.images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert abs(float(run.val.images.mean())) > 1e-4  # the held-out part: same shift, not 0
