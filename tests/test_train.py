"""The training loop: learning, exact resume, divergence, and the loader's epochs."""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint
from convprop.config import TrainConfig
from convprop.data import make_synthetic
from convprop.models import build_model
from convprop.train import Diverged, Interrupted, evaluate, train

SPLIT = make_synthetic(num_classes=3, n_train=96, n_test=48, image_size=8, seed=0)


def _run(tmp_path, name, resume=None, handle_signals=False, **kw):
    config = TrainConfig(
        dataset="synthetic",
        model=kw.pop("model", "cnn"),
        batch_size=kw.pop("batch_size", 16),
        **kw,
    )
    return train(
        config,
        tmp_path / name,
        resume=resume,
        split=SPLIT,
        progress=False,
        log=lambda *a: None,
        handle_signals=handle_signals,
    )


def _weights(path):
    return load_checkpoint(path).model


def test_training_learns_and_writes_its_files(tmp_path):
    summary = _run(tmp_path, "run", epochs=4, lr=0.05)
    assert summary["test_accuracy"] > 0.9
    assert summary["epochs"] == 4 and summary["train_seconds"] > 0
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"metrics.csv", "summary.json", "model.npz"} <= files
    assert "curves.png" not in files  # figures are the command line's (convprop train)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_accuracy,test_loss,test_accuracy")
    assert len(rows) == 5


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_sigint_checkpoints_and_resume_matches_an_uninterrupted_run(
    tmp_path, monkeypatch, optimizer
):
    import convprop.train as module

    kw = dict(
        lr=0.05 if optimizer == "sgd" else 0.01, optimizer=optimizer, schedule="cosine", epochs=3
    )
    kw["handle_signals"] = True  # as convprop train asks
    _run(tmp_path, "full", **kw)
    real_step, calls = module.train_step, {"n": 0}

    def interrupt_at_step_nine(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the step finishes first
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, "train_step", interrupt_at_step_nine)
    with pytest.raises(Interrupted):
        _run(tmp_path, "part", **kw)
    monkeypatch.setattr(module, "train_step", real_step)
    saved = load_checkpoint(tmp_path / "part" / "model.npz").progress
    assert (saved["epoch"], saved["step"]) == (1, 3)  # 6 steps per epoch; 9 steps done
    _run(tmp_path, "part", resume=tmp_path / "part" / "model.npz", **kw)
    full, part = (
        _weights(tmp_path / "full" / "model.npz"),
        _weights(tmp_path / "part" / "model.npz"),
    )
    for name in full:
        np.testing.assert_array_equal(full[name], part[name])
    assert _metrics_without_timing(tmp_path / "full") == _metrics_without_timing(tmp_path / "part")


def _metrics_without_timing(folder):
    """epoch, train loss and accuracy, test loss and accuracy: the columns before 'seconds'."""
    return [row.split(",")[:5] for row in (folder / "metrics.csv").read_text().splitlines()]


def test_mid_epoch_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    import convprop.train as module

    _run(tmp_path, "full", epochs=2, checkpoint_every=2)
    real_step, calls = module.train_step, {"n": 0}

    def crash_after_seven(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt  # stands for a crash between checkpoints
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, "train_step", crash_after_seven)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "part", epochs=2, checkpoint_every=2)
    monkeypatch.setattr(module, "train_step", real_step)
    saved = load_checkpoint(tmp_path / "part" / "model.npz").progress
    assert (saved["epoch"], saved["step"]) == (1, 0)  # 6 steps/epoch: last save at step 6
    _run(tmp_path, "part", epochs=2, resume=tmp_path / "part" / "model.npz", checkpoint_every=2)
    full, part = (
        _weights(tmp_path / "full" / "model.npz"),
        _weights(tmp_path / "part" / "model.npz"),
    )
    for name in full:
        np.testing.assert_array_equal(full[name], part[name])


def test_evaluate_runs_in_eval_mode_and_restores_the_modes_it_found():
    model = build_model("mlp", SPLIT.input_shape, 3, np.random.default_rng(0))
    seen = []
    real_forward = model.forward
    model.forward = lambda z: seen.append(model.training) or real_forward(z)
    images, labels = SPLIT.test.images, SPLIT.test.labels
    model.eval()
    evaluate(model, images, labels)
    assert not any(m.training for m in model.modules())  # was: always left in training mode
    model.train()
    model[2].eval()  # a layer kept in eval mode inside a training model stays so
    evaluate(model, images, labels, batch_size=16)
    assert seen == [False] * 4
    assert [m.training for m in model.modules()] == [True, True, True, False, True, True, True]


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    _run(tmp_path, "run", epochs=1, lr=0.01, model="mlp")
    good = _weights(tmp_path / "run" / "model.npz")
    with pytest.raises(Diverged, match=r"epoch \d+, batch \d+.*--lr"):
        _run(tmp_path, "run", epochs=3, lr=1e6, model="mlp", momentum=0.0)
    after = _weights(tmp_path / "run" / "model.npz")
    for name in good:
        assert np.all(np.isfinite(after[name]))


def test_divergence_drops_the_diverging_steps_numpy_warnings(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Diverged):
            _run(tmp_path, "run", epochs=1, lr=1e6, model="mlp", momentum=0.0)
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []


def test_warnings_of_steps_that_do_not_diverge_are_still_shown(tmp_path, monkeypatch):
    import convprop.train as module

    real_step = module.train_step

    def warning_step(*args, **kwargs):
        warnings.warn("a warning of the step", RuntimeWarning, stacklevel=1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, "train_step", warning_step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(tmp_path, "run", epochs=1)
    assert sum("a warning of the step" in str(w.message) for w in caught) == 6  # 6 steps


def test_fit_leaves_signals_the_allocator_and_the_threads_alone_unless_asked(
    tmp_path, monkeypatch
):
    import convprop.train as module

    tuned, seen, shared = [], [], []
    monkeypatch.setattr(module, "retain_freed_memory", lambda: tuned.append(True))
    monkeypatch.setattr(module, "share_cores", shared.append)
    real_step = module.train_step

    def recording_step(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGINT))
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, "train_step", recording_step)
    before = signal.getsignal(signal.SIGINT)
    _run(tmp_path, "plain", epochs=1)
    assert tuned == [] and shared == [] and set(seen) == {before}
    seen.clear()
    config = TrainConfig(dataset="synthetic", batch_size=16, epochs=1)
    run = module.prepare(config, tmp_path / "asked", split=SPLIT)
    module.fit(
        run,
        progress=False,
        log=lambda *a: None,
        handle_signals=True,
        retain_memory=True,
        threads=2,
    )
    assert tuned == [True] and shared == [2] and before not in seen
    assert signal.getsignal(signal.SIGINT) == before  # restored


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", float("nan"), "--lr must be a positive"),
        ("lr", -1.0, "--lr must be a positive"),
        ("epochs", 0, "--epochs must be a positive"),
        ("batch_size", -4, "--batch-size must be"),
        ("momentum", 1.0, r"--momentum must lie in \[0, 1\)"),
        ("model", "vgg", "unknown model"),
        ("optimizer", "rmsprop", "unknown optimizer"),
        ("schedule", "poly", "unknown schedule"),
    ],
)
def test_bad_configuration_is_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value}).validate()


def test_a_frozen_parameter_trains_nothing_and_stays_put():
    from convprop import optim
    from convprop.train import train_step

    split = make_synthetic(n_train=64, n_test=16, seed=0)
    model = build_model("mlp", split.input_shape, split.num_classes, np.random.default_rng(0))
    frozen = model.parameters()[0]
    frozen.requires_grad = False
    before = frozen.data.copy()
    others = [p.data.copy() for p in model.parameters()[1:]]
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y = split.train[np.arange(32)]
    for _ in range(2):
        train_step(model, opt, x, y)
    assert frozen.grad is None
    np.testing.assert_array_equal(frozen.data, before)
    moved = zip(model.parameters()[1:], others, strict=True)
    assert all(not np.array_equal(p.data, o) for p, o in moved)
