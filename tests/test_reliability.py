"""A run survives kill -9, and bad files only ever raise the documented, named errors."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from convprop import conv
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


_ODD_INTS = st.one_of(st.integers(-3, 6), st.just(0))
_OPTION = st.one_of(
    _ODD_INTS,
    st.tuples(_ODD_INTS, _ODD_INTS),
    st.just((1, 2, 3)),
    st.just(1.5),
    st.just("2"),
    st.none(),
)
_ANY_CALL = st.fixed_dictionaries(
    {
        "z_shape": st.lists(st.integers(0, 7), max_size=5),
        "w_shape": st.lists(st.integers(0, 5), max_size=5),
        "stride": _OPTION,
        "dilation": _OPTION,
        "padding": st.one_of(_OPTION, st.sampled_from(["valid", "same", "full", "half", ""])),
        "kind": st.sampled_from(["convolution", "correlation", "conv", None]),
        "method": st.sampled_from(["auto", "direct", "im2col", "fft", "gpu"]),
    }
)
_PLAUSIBLE_CALL = st.fixed_dictionaries(
    {  # nearly always valid: exercises the accepted path
        "z_shape": st.one_of(
            st.tuples(st.integers(1, 2), st.just(2), st.integers(4, 9), st.integers(4, 9)),
            st.tuples(st.integers(4, 9), st.integers(4, 9)),
        ),
        "w_shape": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "stride": st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))),
        "dilation": st.integers(1, 2),
        "padding": st.one_of(st.integers(0, 2), st.sampled_from(["valid", "full"])),
        "kind": st.sampled_from(["convolution", "correlation"]),
        "method": st.sampled_from(["auto", "direct", "im2col", "fft"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(call=st.one_of(_ANY_CALL, _PLAUSIBLE_CALL))
def test_conv_fuzz_raises_value_error_or_matches_torch(call):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    z_shape, w_shape = list(call.pop("z_shape")), list(call.pop("w_shape"))
    if len(z_shape) == 4 and len(w_shape) == 2:  # a plausible batch: kernel (O, C, kh, kw)
        w_shape = [2, z_shape[1], *w_shape]
    stride, padding, dilation, kind = (call[k] for k in ("stride", "padding", "dilation", "kind"))

    rng = np.random.default_rng(0)
    z, w = rng.standard_normal(z_shape), rng.standard_normal(w_shape)
    options = call
    try:
        x = conv.conv2d(z, w, **options)
    except ValueError as error:
        assert str(error)
        event("rejected with ValueError")
        return
    event("accepted and checked against torch")
    # accepted: it must be the right answer, whatever the form of the arguments
    zt = z if z.ndim == 4 else z[None, None]
    wt = w if w.ndim == 4 else w[None, None]
    if kind == "convolution":
        wt = wt[..., ::-1, ::-1]
    pads = conv.conv2d_padding(padding, wt.shape[2:], stride=stride, dilation=dilation, kind=kind)
    zp = np.pad(zt, ((0, 0), (0, 0), *pads))
    ref = tF.conv2d(
        torch.tensor(zp), torch.tensor(wt.copy()), stride=stride, dilation=dilation
    ).numpy()
    np.testing.assert_allclose(x, ref if z.ndim == 4 else ref[0, 0], atol=1e-9)
    eps = rng.standard_normal(x.shape)
    delta, g_w = conv.conv2d_backward(eps, z, w, **options)
    assert delta.shape == z.shape and g_w.shape == w.shape
    with pytest.raises(ValueError, match="eps"):
        conv.conv2d_adjoint_input(
            np.ones((*x.shape[:-1], x.shape[-1] + 1)), w, input_shape=z.shape, **options
        )
