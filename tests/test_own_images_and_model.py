"""Issue 16's whole path on the command line: a folder of PNG images, a user's model file (a
residual CNN with BatchNorm), augmentation; evaluate reports the training run's accuracy, and a
resumed run equals an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint
from convprop.cli import main
from tests.data.images import write_data_dir
from tests.test_model_file import RESIDUAL  # a residual CNN with BatchNorm

pytest.importorskip("PIL")


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVPROP_CACHE", str(tmp_path / "cache"))


def test_folder_model_file_augment_evaluate_and_resume(tmp_path, capsys):
    data = write_data_dir(tmp_path / "d", colour=True)
    model = tmp_path / "my_model.py"
    model.write_text(RESIDUAL)
    train = ["train", "--dataset", "folder", "--data-dir", str(data), "--model",
             f"{model}:build", "--augment", "crop=2,hflip", "--batch-size", "6"]  # fmt: skip
    run = tmp_path / "D_RUN"
    assert main([*train, "--epochs", "2", "--out", str(run)]) == 0, capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    capsys.readouterr()

    code = main(["evaluate", str(run / "model.npz"), "--dataset", "folder", "--data-dir",
                 str(data), "--json"])  # fmt: skip
    assert code == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-9)

    assert main([*train, "--epochs", "3", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", "--resume", str(run / "model.npz"), "--epochs", "3"]) == 0
    whole = load_checkpoint(tmp_path / "whole" / "model.npz")
    resumed = load_checkpoint(run / "model.npz")
    assert sorted(whole.model) == sorted(resumed.model)
    assert any(k.endswith("running_mean") for k in whole.model)  # BatchNorm's buffers, too
    for name, value in whole.model.items():
        np.testing.assert_array_equal(resumed.model[name], value, err_msg=name)
