"""ModuleDict (PyTorch's: insertion order, keys as state_dict prefixes), manual_seed and
Module.to / float / double."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import nn


def test_module_dict_is_a_dict_of_modules_in_insertion_order():
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10, rng=0), "parity": nn.Linear(4, 2, rng=1)})
    heads["act"] = nn.ReLU()
    assert heads.keys() == ["digit", "parity", "act"] and list(heads) == heads.keys()
    assert len(heads) == 3 and "parity" in heads and "weight" not in heads
    assert list(heads.state_dict()) == [
        "digit.weight",
        "digit.bias",
        "parity.weight",
        "parity.bias",
    ]
    model = nn.Sequential(nn.Linear(3, 4, rng=2))
    model.heads = heads
    assert "heads.parity.bias" in model.state_dict()
    assert len(model.parameters()) == 6
    replaced = nn.Linear(4, 3, rng=3)
    heads["digit"] = replaced  # replacing keeps the key's place
    assert heads.keys()[0] == "digit" and heads["digit"] is replaced
    assert heads.pop("act").__class__ is nn.ReLU and heads.keys() == ["digit", "parity"]
    del heads["parity"]
    assert [k for k, _ in heads.items()] == ["digit"] and heads.values() == [replaced]
    heads.update([("a", nn.Tanh())])
    heads.clear()
    assert len(heads) == 0


def test_module_dict_state_dict_keys_equal_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "fc": nn.Linear(2, 1)})
    theirs = torch.nn.ModuleDict({"conv": torch.nn.Conv2d(1, 2, 3), "fc": torch.nn.Linear(2, 1)})
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_module_dict_errors_name_the_problem():
    heads = nn.ModuleDict()
    with pytest.raises(KeyError, match="already an attribute"):
        heads["keys"] = nn.ReLU()
    with pytest.raises(KeyError, match="without '.'"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(TypeError, match="not a Module"):
        heads["a"] = 3
    with pytest.raises(KeyError, match="no module 'b'"):
        heads["b"]


def _build():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Dropout(0.5))


def test_manual_seed_makes_building_reproducible_and_an_explicit_rng_wins():
    cp.manual_seed(123)
    a = _build()
    cp.manual_seed(123)
    b = _build()
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)
    z = cp.Tensor(np.ones((5, 8)))
    np.testing.assert_array_equal(a[3](z).data, b[3](z).data)  # dropout masks too
    c = _build()  # the generator moved on: other weights
    assert not np.array_equal(c[0].weight.data, a[0].weight.data)
    cp.manual_seed(1)
    d = nn.Linear(3, 2, rng=7)
    cp.manual_seed(2)
    e = nn.Linear(3, 2, rng=7)
    np.testing.assert_array_equal(d.weight.data, e.weight.data)
    with pytest.raises(ValueError, match="integer >= 0"):
        cp.manual_seed(-1)


class _WithBuffers(nn.Module):
    def __init__(self):
        self.fc = nn.Linear(2, 2, rng=0)
        self.register_buffer("running", np.ones(2, dtype=np.float32))
        self.register_buffer("count", np.zeros((), dtype=np.int64))


def test_module_to_casts_parameters_grads_and_float_buffers_in_place():
    m = _WithBuffers()
    weight = m.fc.weight
    weight.grad = np.ones((2, 2), dtype=np.float32)
    assert m.double() is m
    assert m.fc.weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert m.running.dtype == np.float64 and m.count.dtype == np.int64
    out = m.fc(cp.Tensor(np.ones((1, 2)), dtype=np.float64))
    assert out.dtype == np.float64
    assert m.float().fc.bias.dtype == np.float32 and m.running.dtype == np.float32
    assert m.to("cpu") is m and m.to(dtype=np.float64).fc.weight.dtype == np.float64
    with pytest.raises(ValueError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(ValueError, match="float dtype"):
        m.to(np.int64)
