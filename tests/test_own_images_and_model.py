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

pytest.importorskip("PIL")

MODEL_FILE = '''
from convprop import nn


class Block(nn.Module):
    """x = relu(bn(conv(z)) + z): a residual block with BatchNorm."""

    def __init__(self, c, rng):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False, rng=rng)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, z):
        return self.relu(self.bn(self.conv(z)) + z)


def build(in_channels, num_classes, image_size, rng):
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1, rng=rng),
        nn.ReLU(),
        Block(8, rng),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes, rng=rng),
    )
'''


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVPROP_CACHE", str(tmp_path / "cache"))


def test_folder_model_file_augment_evaluate_and_resume(tmp_path, capsys):
    data = write_data_dir(tmp_path / "d", colour=True)
    model = tmp_path / "my_model.py"
    model.write_text(MODEL_FILE)
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
