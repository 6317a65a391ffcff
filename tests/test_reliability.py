"""A run survives kill -9, and bad files only ever raise the documented, named errors."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convprop.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from convprop.cli import main
from convprop.data import IdxError, read_idx

TRAIN = [
    "train",
    "--model",
    "cnn",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--seed",
    "1",
    "--checkpoint-every",
    "4",
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "convprop.cli", *args]


@pytest.mark.slow
def test_sigkill_at_20_random_moments_never_loses_the_run(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(_cli(*TRAIN, "--out", str(reference)), check=True, capture_output=True)
    out, ckpt = tmp_path / "killed", tmp_path / "killed" / "model.npz"
    rng, kills, deadline = random.Random(0), 0, time.time() + 240
    while kills < 20 and time.time() < deadline:
        args = (
            ["train", "--resume", str(ckpt)]
            if ckpt.exists()
            else [*TRAIN, "--out", str(out), "--overwrite"]
        )
        proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 2.0))
        if proc.poll() is not None:  # finished before the kill: start over from scratch
            assert proc.returncode == 0, proc.stderr.read().decode()
            ckpt.unlink()
            continue
        proc.kill()
        proc.wait()
        kills += 1
        if ckpt.exists():
            load_checkpoint(ckpt)  # the newest checkpoint loads and its SHA-256 verifies
    assert kills == 20
    subprocess.run(_cli("train", "--resume", str(ckpt)), check=True, capture_output=True)
    ours, theirs = load_checkpoint(ckpt), load_checkpoint(reference / "model.npz")
    assert ours.progress["epoch"] == 3
    for name, array in theirs.model.items():
        np.testing.assert_array_equal(ours.model[name], array, err_msg=name)


def _valid_checkpoint_bytes(tmp_path) -> bytes:
    ckpt = Checkpoint(
        model={"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4)},
        optimizer={"state.0.momentum_buffer": np.ones(4), "lr": 0.1},
        config={"model": "mlp"},
        progress={"epoch": 1, "step": 0},
    )
    return save_checkpoint(tmp_path / "good.npz", ckpt).read_bytes()


@settings(max_examples=150, deadline=2000)
@given(data=st.data())
def test_checkpoint_loader_fuzz_only_raises_checkpoint_error(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    good = _valid_checkpoint_bytes(tmp)
    how = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if how == "truncate":
        blob = good[: data.draw(st.integers(0, len(good) - 1))]
    elif how == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        blob = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1 :]
    else:
        blob = data.draw(st.binary(max_size=2000))
    path = tmp / "bad.npz"
    path.write_bytes(blob)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        assert "bad.npz" in str(error)
    else:  # a flip in bytes nothing reads (zip header slack): the content must be intact
        assert how == "flip"
        original = load_checkpoint(tmp / "good.npz")
        for name, array in original.model.items():
            np.testing.assert_array_equal(loaded.model[name], array)
        assert loaded.config == original.config and loaded.progress == original.progress


def test_idx_reader_refuses_a_fifo_instead_of_hanging(tmp_path):
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(IdxError, match="not a regular file"):
        read_idx(fifo)


def test_resuming_another_models_checkpoint_names_the_parameter(tmp_path, capsys):
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "a")]) == 0
    ckpt = load_checkpoint(tmp_path / "a" / "model.npz")
    ckpt.config["model"] = "cnn"  # a checkpoint whose weights do not fit its model
    save_checkpoint(tmp_path / "b" / "model.npz", ckpt)
    assert main(["train", "--resume", str(tmp_path / "b" / "model.npz")]) == 2
    err = capsys.readouterr().err
    assert "0.weight" in err or "missing" in err
    assert len(err.strip().splitlines()) == 1
