"""Checkpoints: round trip, atomic writes, and every kind of bad file named."""

from __future__ import annotations

import numpy as np
import pytest

from convprop import nn
from convprop.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint


def _ckpt() -> Checkpoint:
    return Checkpoint(
        model={"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3)},
        optimizer={"state.0.momentum_buffer": np.ones(3), "param_groups.0.lr": 0.1},
        config={"model": "cnn"},
        progress={"epoch": 2, "step": 0},
        extra={"history": [{"epoch": 1}]},
    )


def test_round_trip_keeps_arrays_dtypes_and_metadata(tmp_path):
    path = save_checkpoint(tmp_path / "model.npz", _ckpt())
    back = load_checkpoint(path)
    np.testing.assert_array_equal(back.model["0.weight"], _ckpt().model["0.weight"])
    assert back.model["0.weight"].dtype == np.float32
    assert back.optimizer["param_groups.0.lr"] == 0.1
    assert back.config == {"model": "cnn"} and back.progress["epoch"] == 2
    assert back.extra["history"] == [{"epoch": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left


def test_a_frozen_parameter_and_buffers_survive_a_checkpoint_round_trip(tmp_path):
    def model(seed):
        net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=seed), nn.Flatten(), nn.Linear(8, 3, rng=seed))
        net[0].requires_grad_(False)  # a frozen feature extractor
        net[2].register_buffer("running_mean", np.full(3, seed, dtype=np.float32))
        net[2].register_buffer("seen", np.array(10 * seed, dtype=np.int64))
        return net

    trained = model(1)
    ckpt = Checkpoint(model=trained.state_dict(), optimizer={}, config={"model": "custom"})
    back = load_checkpoint(save_checkpoint(tmp_path / "model.npz", ckpt)).model
    assert sorted(back) == ["0.bias", "0.weight", "2.bias", "2.running_mean", "2.seen", "2.weight"]
    assert back["2.seen"].dtype == np.int64 and back["2.running_mean"].dtype == np.float32
    fresh = model(0)
    fresh.load_state_dict(back)
    for name, value in trained.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value, err_msg=name)
    assert not fresh[0].weight.requires_grad and int(fresh[2].seen) == 10


def test_truncated_edited_foreign_and_missing_files_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "model.npz", _ckpt())
    data = path.read_bytes()
    for n in (0, 10, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="cut.npz"):
            load_checkpoint(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not a convprop checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="not a convprop checkpoint"):
        load_checkpoint(tmp_path / "text.npz")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.npz")


def test_edited_arrays_fail_the_hash_and_newer_versions_are_refused(tmp_path, monkeypatch):
    import convprop.checkpoint as module

    path = save_checkpoint(tmp_path / "model.npz", _ckpt())
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["model/0.weight"] = arrays["model/0.weight"] + 1
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        load_checkpoint(tmp_path / "edited.npz")
    monkeypatch.setattr(module, "VERSION", 2)
    save_checkpoint(tmp_path / "new.npz", _ckpt())
    monkeypatch.setattr(module, "VERSION", 1)
    with pytest.raises(CheckpointError, match="version 2 is newer"):
        load_checkpoint(tmp_path / "new.npz")
