"""convprop.io: PyTorch state dicts in and out (the kernel flip), safetensors files, errors.

Tests that compare with PyTorch import it inside the test; the rest run without torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convprop as cp
from convprop import nn
from convprop.io import from_torch, load_safetensors, save_safetensors, to_torch

RNG = np.random.default_rng(0)
CONV_WEIGHTS = ("0.weight", "3.weight")


def lenet(nn_module, conv, linear):
    """LeNet-5 in small (16x16 inputs): conv-relu-pool twice, then three linear layers. The
    same definition builds the PyTorch model (``nn_module=torch.nn``) and convprop's."""
    return nn_module.Sequential(
        conv(1, 6, 5, padding=2),
        nn_module.ReLU(),
        nn_module.MaxPool2d(2),
        conv(6, 16, 5),
        nn_module.ReLU(),
        nn_module.MaxPool2d(2),
        nn_module.Flatten(),
        linear(64, 32),
        nn_module.ReLU(),
        linear(32, 10),
    )


def convprop_lenet(kind: str, dtype=np.float64) -> nn.Sequential:
    return lenet(
        nn,
        lambda *a, **k: nn.Conv2d(*a, kind=kind, rng=1, dtype=dtype, **k),
        lambda *a: nn.Linear(*a, rng=2, dtype=dtype),
    )


def torch_lenet(torch, dtype):
    torch.manual_seed(0)
    return lenet(torch.nn, torch.nn.Conv2d, torch.nn.Linear).to(dtype)


def numpy_state(torch_model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()}


def outputs(model, z: np.ndarray) -> np.ndarray:
    with cp.no_grad():
        return model(cp.Tensor(z, dtype=z.dtype)).data


# -- from_torch and to_torch against PyTorch ------------------------------------------------
@pytest.mark.parametrize("kind", ["convolution", "correlation"])
@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_from_torch_gives_torchs_outputs(kind, dtype, tol):
    torch = pytest.importorskip("torch")
    ref = torch_lenet(torch, torch.float64 if dtype == np.float64 else torch.float32)
    state = numpy_state(ref)
    model = from_torch(convprop_lenet(kind, dtype), state)
    z = RNG.standard_normal((4, 1, 16, 16)).astype(dtype)
    expected = ref(torch.from_numpy(z)).detach().numpy()
    got = outputs(model, z)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    for key in CONV_WEIGHTS:  # a true-convolution layer holds the flipped kernel
        w = model.state_dict()[key]
        flipped = state[key][:, :, ::-1, ::-1] if kind == "convolution" else state[key]
        np.testing.assert_array_equal(w, flipped)


def test_loading_torch_weights_without_the_flip_gives_other_outputs():
    """The bug from_torch fixes: PyTorch's kernels copied as they are into true-convolution
    layers (load_state_dict) give outputs that differ by order 1."""
    torch = pytest.importorskip("torch")
    ref = torch_lenet(torch, torch.float64)
    z = RNG.standard_normal((4, 1, 16, 16))
    expected = ref(torch.from_numpy(z)).detach().numpy()
    unflipped = convprop_lenet("convolution")
    unflipped.load_state_dict(numpy_state(ref))
    assert np.abs(outputs(unflipped, z) - expected).max() > 1e-2
    flipped = from_torch(convprop_lenet("convolution"), numpy_state(ref))
    np.testing.assert_allclose(outputs(flipped, z), expected, rtol=1e-10, atol=1e-10)


def test_from_torch_takes_torch_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    ref = torch_lenet(torch, torch.float64)
    params = dict(ref.named_parameters())  # np.asarray would refuse these (requires_grad)
    assert all(p.requires_grad for p in params.values())
    model = from_torch(convprop_lenet("convolution"), params)
    z = RNG.standard_normal((2, 1, 16, 16))
    expected = ref(torch.from_numpy(z)).detach().numpy()
    np.testing.assert_allclose(outputs(model, z), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["convolution", "correlation"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_torch_loads_into_torch_with_the_same_outputs(kind, dtype):
    torch = pytest.importorskip("torch")
    model = convprop_lenet(kind, dtype)
    out = to_torch(model)
    for key, value in out.items():
        assert value.flags.c_contiguous and value.dtype == dtype, key
        assert not np.shares_memory(value, _live(model, key)), key
    ref = torch_lenet(torch, torch.float64 if dtype == np.float64 else torch.float32)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in out.items()})
    z = RNG.standard_normal((3, 1, 16, 16)).astype(dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    expected = ref(torch.from_numpy(z)).detach().numpy()
    np.testing.assert_allclose(outputs(model, z), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["convolution", "correlation"])
def test_to_torch_of_from_torch_is_the_state_dict_exactly(kind):
    torch = pytest.importorskip("torch")
    state = numpy_state(torch_lenet(torch, torch.float32))
    back = to_torch(from_torch(convprop_lenet(kind, np.float32), state))
    assert list(back) == list(state)
    for key in state:
        assert back[key].dtype == state[key].dtype, key
        np.testing.assert_array_equal(back[key], state[key])


# -- buffers ---------------------------------------------------------------------------------
class Counted(nn.Module):
    """A convprop module with a float32 buffer and an integer counter (as BatchNorm has)."""

    def __init__(self, counter_dtype=np.int64) -> None:
        self.weight = nn.Parameter(np.zeros(3, np.float32))
        self.register_buffer("running_mean", np.zeros(3, np.float32))
        self.register_buffer("num_batches_tracked", np.array(0, counter_dtype))


def test_buffers_load_in_their_own_dtype_and_leave_as_int64():
    state = {
        "weight": np.arange(3.0),  # float64 into a float32 parameter
        "running_mean": np.array([0.5, 1.5, 2.5], np.float32),
        "num_batches_tracked": np.array(7, np.int64),
    }
    model = from_torch(Counted(counter_dtype=np.int32), state)
    assert model.weight.dtype == np.float32 and model.num_batches_tracked.dtype == np.int32
    assert model.num_batches_tracked == 7
    out = to_torch(model)
    counter = out["num_batches_tracked"]
    assert counter.dtype == np.int64 and counter.shape == () and counter == 7
    np.testing.assert_array_equal(out["running_mean"], state["running_mean"])


def test_torch_module_with_an_int64_buffer_round_trips():
    torch = pytest.importorskip("torch")

    class TorchCounted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
            self.register_buffer("running_mean", torch.tensor([0.25, 0.5, 0.75]))
            self.register_buffer("num_batches_tracked", torch.tensor(12, dtype=torch.long))

    ref = TorchCounted()
    model = from_torch(Counted(), ref.state_dict())
    back = to_torch(model)
    fresh = TorchCounted()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})
    for key, value in ref.state_dict().items():
        assert fresh.state_dict()[key].dtype == value.dtype, key
        assert torch.equal(fresh.state_dict()[key], value), key


# -- errors ----------------------------------------------------------------------------------
def _check_refused(model, state, *named):
    before = model.state_dict()
    with pytest.raises(ValueError, match="does not fit") as info:
        from_torch(model, state)
    message = str(info.value)
    assert "\n" not in message
    for name in named:
        assert name in message, (name, message)
    after = model.state_dict()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_a_missing_key_is_named_and_the_model_left_unchanged():
    model = convprop_lenet("convolution")
    state = to_torch(convprop_lenet("correlation"))
    del state["7.bias"]
    _check_refused(model, state, "missing '7.bias'")


def test_an_unexpected_key_is_named_and_the_model_left_unchanged():
    model = convprop_lenet("convolution")
    state = to_torch(convprop_lenet("correlation"))
    state["head.weight"] = np.zeros((2, 2))
    _check_refused(model, state, "unexpected 'head.weight'")


def test_a_wrong_shape_is_named_and_the_model_left_unchanged():
    model = convprop_lenet("convolution")
    state = to_torch(convprop_lenet("correlation"))
    state["3.weight"] = np.zeros((16, 6, 3, 3))
    _check_refused(model, state, "'3.weight' has shape (16, 6, 3, 3)", "(16, 6, 5, 5)")


def test_every_problem_is_named_in_one_error():
    model = convprop_lenet("convolution")
    state = to_torch(convprop_lenet("correlation"))
    del state["0.bias"]
    state["extra"] = np.zeros(1)
    state["9.weight"] = np.zeros((10, 31))
    _check_refused(model, state, "missing '0.bias'", "unexpected 'extra'", "'9.weight'")


def test_from_torch_refuses_a_file_that_is_not_safetensors(tmp_path):
    with pytest.raises(ValueError, match=r"model\.pt.*torch\.load"):
        from_torch(convprop_lenet("convolution"), tmp_path / "model.pt")


# -- safetensors files -----------------------------------------------------------------------
def test_safetensors_round_trip_is_exact_and_keeps_dtypes(tmp_path):
    pytest.importorskip("safetensors")
    state = {
        "conv.weight": RNG.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "fc.weight": RNG.standard_normal((5, 7)),  # float64
        "bn.num_batches_tracked": np.array(41, np.int64),
        "mask": np.array([True, False]),
        "strided": RNG.standard_normal((6, 6)).astype(np.float32)[::2, ::3],  # not contiguous
    }
    path = tmp_path / "w.safetensors"
    save_safetensors(state, path)
    loaded = load_safetensors(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].flags.writeable, key


def test_model_round_trips_through_a_safetensors_file(tmp_path):
    pytest.importorskip("safetensors")
    model = convprop_lenet("convolution", np.float32)
    model.append(Counted())
    path = tmp_path / "model.safetensors"
    save_safetensors(to_torch(model), path)
    other = convprop_lenet("convolution", np.float32).append(Counted())
    from_torch(other, path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)


def test_from_torch_reads_a_file_written_by_torch(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    ref = torch_lenet(torch, torch.float32)
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file(ref.state_dict(), str(path))
    model = from_torch(convprop_lenet("convolution", np.float32), path)
    z = RNG.standard_normal((2, 1, 16, 16)).astype(np.float32)
    expected = ref(torch.from_numpy(z)).detach().numpy()
    np.testing.assert_allclose(outputs(model, z), expected, rtol=1e-5, atol=1e-5)


def test_a_failed_write_keeps_the_file_saved_before(tmp_path, monkeypatch):
    st_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "w.safetensors"
    save_safetensors({"a": np.arange(3.0)}, path)

    def broken_save(arrays, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(st_numpy, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_safetensors({"a": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(load_safetensors(path)["a"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind


def test_a_missing_or_corrupt_file_is_named_in_one_line(tmp_path):
    pytest.importorskip("safetensors")
    missing = tmp_path / "nothing.safetensors"
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        load_safetensors(missing)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"this is not a safetensors file")
    truncated = tmp_path / "truncated.safetensors"
    save_safetensors({"a": np.arange(100.0)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:-50])
    for path in (corrupt, truncated):
        with pytest.raises(ValueError, match=path.name) as info:
            load_safetensors(path)
        assert "\n" not in str(info.value)


def test_without_safetensors_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (
        lambda: save_safetensors({"a": np.zeros(1)}, tmp_path / "a.safetensors"),
        lambda: load_safetensors(tmp_path / "a.safetensors"),
        lambda: from_torch(Counted(), tmp_path / "a.safetensors"),
    ):
        with pytest.raises(ImportError, match=r"pip install convprop\[io\]"):
            call()
    assert not os.listdir(tmp_path)


def test_import_convprop_needs_neither_torch_nor_safetensors():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['safetensors'] = None\n"
        "import numpy as np, convprop\n"
        "from convprop import nn\n"
        "m = nn.Conv2d(1, 2, 3, rng=0)\n"
        "out = convprop.io.to_torch(m)\n"
        "convprop.io.from_torch(m, out)\n"
        "assert np.array_equal(m.weight.data, out['weight'][:, :, ::-1, ::-1])\n"
    )
    src = str(Path(cp.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _live(model, key: str) -> np.ndarray:
    *path, leaf = key.split(".")
    for name in path:
        model = getattr(model, name)
    value = getattr(model, leaf)
    return value.data if isinstance(value, cp.Tensor) else value
