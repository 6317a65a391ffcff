"""Modules as users expect: parameters (frozen ones kept), buffers, state dicts, containers,
and a Sequential that applies its modules in order and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import nn, optim
from convprop.models import build_model
from convprop.optim import SGD


class Norm(nn.Module):
    """A layer with running statistics: a persistent buffer, a non-persistent one, a count."""

    def __init__(self, n: int) -> None:
        self.scale = cp.Tensor(np.ones(n), requires_grad=True)  # a trainable leaf: a parameter
        self.register_buffer("running_mean", np.zeros(n, dtype=np.float32))
        self.register_buffer("seen", np.zeros((), dtype=np.int64))
        self.register_buffer("scratch", np.zeros(n, dtype=np.float32), persistent=False)
        self.constant = cp.Tensor(np.full(n, 2.0))  # neither a parameter nor a buffer

    def forward(self, z: cp.Tensor) -> cp.Tensor:
        if self.training:
            self.running_mean = 0.9 * self.running_mean + 0.1 * z.data.mean(0)
            self.seen += 1
        return (z - cp.Tensor(self.running_mean)) * self.scale


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4, rng=0), Norm(4), nn.ReLU(), nn.Linear(4, 2, rng=1))


# ------------------------------------------------------------------ parameters and buffers


def test_parameters_buffers_and_state_dict_keys_follow_pytorch():
    model = _net()
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight",
        "0.bias",
        "1.scale",
        "3.weight",
        "3.bias",
    ]
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.seen", "1.scratch"]
    assert len(model.buffers()) == 3
    assert list(model.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.scale",
        "1.running_mean",
        "1.seen",
        "3.weight",
        "3.bias",
    ]  # the non-persistent buffer and the plain constant are left out
    assert model.state_dict()["1.seen"].dtype == np.int64


def test_a_trainable_leaf_set_as_attribute_becomes_a_parameter_the_same_object():
    w = cp.Tensor(np.arange(3.0), requires_grad=True)
    layer = Norm(3)
    layer.scale = w
    assert isinstance(layer.scale, nn.Parameter) and layer.scale is w  # an optimizer given w
    opt = SGD([w], lr=0.5)  # (as before the module took it) trains the module's parameter
    (layer.scale * 1.0).sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.scale.data, np.arange(3.0) - 0.5)
    assert all(p is not layer.constant for p in layer.parameters())  # a plain constant: not one
    layer.register_parameter("extra", cp.Tensor(np.ones(2)))
    assert [n for n, _ in layer.named_parameters()] == ["scale", "extra"]
    assert not layer.extra.requires_grad  # registered, and kept its requires_grad


def test_a_parameter_shared_by_two_layers_is_trained_once():
    a, b = nn.Linear(3, 3, rng=0), nn.Linear(3, 3, rng=1)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_a_frozen_parameter_stays_a_parameter_and_survives_the_state_dict():
    model = _net()
    model[0].requires_grad_(False)
    model[1].scale.requires_grad = False
    assert len(model.parameters()) == 5
    state = model.state_dict()
    assert {"0.weight", "0.bias", "1.scale"} <= set(state)
    other = _net()
    for p in other.parameters():
        p.data[...] = 7.0
    other.load_state_dict(state)  # was: "missing ['0.weight']"
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_a_frozen_parameter_gets_no_gradient_and_the_optimizer_leaves_it():
    model = _net()
    model[0].requires_grad_(False)
    frozen, trained = model[0].weight.data.copy(), model[3].weight.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        model(cp.Tensor(np.random.default_rng(0).standard_normal((5, 3)))).sum().backward()
        opt.step()
    assert model[0].weight.grad is None
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert not np.array_equal(model[3].weight.data, trained)
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_buffers_round_trip_in_place_and_stay_buffers_when_reassigned():
    model = _net()
    model(cp.Tensor(np.random.default_rng(0).standard_normal((5, 3))))
    model(cp.Tensor(np.random.default_rng(1).standard_normal((5, 3))))
    assert int(model[1].seen) == 2 and np.any(model[1].running_mean != 0)
    assert [n for n, _ in model.named_buffers()][0] == "1.running_mean"  # still a buffer
    assert "1.running_mean" not in dict(model.named_parameters())
    other = _net()
    held = other[1].running_mean
    other.load_state_dict(model.state_dict())
    assert other[1].running_mean is held  # copied in place
    np.testing.assert_array_equal(held, model[1].running_mean)
    assert int(other[1].seen) == 2
    with pytest.raises(ValueError, match=r"1.running_mean: model \(4,\), given \(5,\)"):
        other.load_state_dict({**model.state_dict(), "1.running_mean": np.zeros(5)})
    with pytest.raises(ValueError, match=r"missing \['1.seen'\]"):
        other.load_state_dict({k: v for k, v in model.state_dict().items() if k != "1.seen"})


def test_a_tensor_buffer_and_bad_registrations():
    layer = nn.Linear(2, 2)
    layer.register_buffer("mask", cp.Tensor(np.ones(2)))
    assert layer.state_dict()["mask"].tolist() == [1.0, 1.0]
    layer.register_buffer("later", None)  # declared, not yet held: left out
    assert "later" not in layer.state_dict()
    with pytest.raises(TypeError, match="buffer 'x' must be an array, Tensor or None"):
        layer.register_buffer("x", [1.0, 2.0])
    with pytest.raises(KeyError, match="already has a parameter called 'weight'"):
        layer.register_buffer("weight", np.zeros(2))
    with pytest.raises(KeyError, match="without '.'"):
        layer.register_buffer("a.b", np.zeros(2))
    with pytest.raises(KeyError, match="already has a buffer called 'mask'"):
        layer.register_parameter("mask", cp.Tensor(np.ones(2)))


# ------------------------------------------------------------------ containers


def test_sequential_indexing_slicing_and_len():
    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    assert len(model) == 12
    assert isinstance(model[0], nn.Conv2d) and model[-1] is model[11]
    features = model[:6]
    assert isinstance(features, nn.Sequential) and len(features) == 6
    assert features[3] is model[3]  # the same modules, not copies
    assert [n for n, _ in model[::-1].named_parameters()][:2] == ["0.weight", "0.bias"]
    x = cp.Tensor(np.random.default_rng(0).standard_normal((2, 1, 28, 28)))
    np.testing.assert_array_equal(model[6:](features(x)).data, model(x).data)
    with pytest.raises(IndexError, match="index 12 is out of range for a Sequential of 12"):
        model[12]
    with pytest.raises(TypeError, match="indices are ints or slices, not str"):
        model["0"]
    with pytest.raises(TypeError, match="Sequential item 1 is a int, not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list_holds_modules_like_a_list_with_pytorch_names():
    class Blocks(nn.Module):
        def __init__(self) -> None:
            self.blocks = nn.ModuleList([nn.Linear(2, 2, rng=0)])
            self.blocks.append(nn.ReLU()).extend([nn.Linear(2, 3, rng=1)])

        def forward(self, z):
            for block in self.blocks:
                z = block(z)
            return z

    model = Blocks()
    assert len(model.blocks) == 3 and isinstance(model.blocks[-1], nn.Linear)
    assert list(model.state_dict()) == [
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.2.weight",
        "blocks.2.bias",
    ]
    assert isinstance(model.blocks[1:], nn.ModuleList) and model.blocks[1:][1] is model.blocks[2]
    model.blocks[1] = nn.Tanh()
    assert isinstance(list(model.blocks)[1], nn.Tanh)
    assert model(cp.Tensor(np.ones((4, 2)))).shape == (4, 3)
    with pytest.raises(NotImplementedError, match="ModuleList does not define forward"):
        model.blocks(cp.Tensor(np.ones((4, 2))))
    with pytest.raises(TypeError, match="ModuleList item 3 is a str, not a Module"):
        model.blocks.append("relu")
    with pytest.raises(IndexError, match="index -4 is out of range"):
        model.blocks[-4]


# ------------------------------------------------------------------ order


class Spy(nn.Module):
    """Records which module ran on what shape, then runs the module it wraps."""

    def __init__(self, module: nn.Module, log: list) -> None:
        self.module, self.log = module, log

    def forward(self, z):
        self.log.append((type(self.module).__name__, z.shape))
        return self.module(z)


class SpyReLU(nn.ReLU):
    def __init__(self, log: list) -> None:
        self.log = log

    def forward(self, z):
        self.log.append(("ReLU", z.shape))
        return super().forward(z)


class SpyMaxPool(nn.MaxPool2d):
    def __init__(self, log: list) -> None:
        super().__init__(2)
        self.log = log

    def forward(self, z):
        self.log.append(("MaxPool2d", z.shape))
        return super().forward(z)


def test_sequential_applies_modules_strictly_in_order():
    log: list = []
    model = nn.Sequential(SpyReLU(log), SpyMaxPool(log), Spy(nn.Tanh(), log), SpyReLU(log))
    z = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    out = model(cp.Tensor(z))
    assert log == [
        ("ReLU", (2, 3, 4, 4)),  # ReLU first, on the full tensor: no pool-first swap
        ("MaxPool2d", (2, 3, 4, 4)),
        ("Tanh", (2, 3, 2, 2)),
        ("ReLU", (2, 3, 2, 2)),
    ]
    pooled = np.maximum(z, 0).reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(out.data, np.maximum(np.tanh(pooled), 0), rtol=1e-6)


def _conv_relu_pool(model: nn.Sequential) -> nn.Sequential:
    """The same modules, each (MaxPool2d, ReLU) pair written back as ReLU then MaxPool2d."""
    layers = list(model)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name", ["lenet5", "cnn"])
def test_the_pool_first_builders_equal_conv_relu_pool_in_values_and_gradients(name):
    model = build_model(name, (1, 28, 28), 10, np.random.default_rng(0))
    reference = _conv_relu_pool(model)
    pools = [i for i, m in enumerate(model) if isinstance(m, nn.MaxPool2d)]
    assert pools and all(isinstance(model[i + 1], nn.ReLU) for i in pools)
    assert all(isinstance(reference[i], nn.ReLU) for i in pools)
    x = np.random.default_rng(1).standard_normal((4, 1, 28, 28)).astype(np.float32)
    x[0] = 0.0  # every window of the first conv's output ties (it is the bias)
    x[1, :, :14] = 0.0
    eps = np.random.default_rng(2).standard_normal((4, 10)).astype(np.float32)
    results = []
    for net in (model, reference):
        net.zero_grad()
        z = cp.Tensor(x, requires_grad=True)
        out = net(z)
        out.backward(eps)
        results.append((out.data, z.grad, [p.grad for p in net.parameters()]))
    (out, gz, gp), (ref, gz_ref, gp_ref) = results
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(gz, gz_ref)
    for a, b in zip(gp, gp_ref, strict=True):
        np.testing.assert_array_equal(a, b)


def test_repr_lists_layers_with_parameter_counts_and_the_total() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, rng=rng),
        nn.ReLU(),
        nn.Sequential(nn.Flatten(), nn.Linear(16, 10, rng=rng)),
    )
    model[0].bias.requires_grad = False
    lines = repr(model).splitlines()
    assert lines[0] == "Sequential("
    assert lines[1].startswith("  (0): Conv2d(1, 4, kernel_size=(3, 3)")
    assert lines[1].endswith(")  # 40 parameters")
    assert lines[2] == "  (1): ReLU()"
    assert lines[4] == "    (0): Flatten()"
    linear = "Linear(in_features=16, out_features=10, bias=True)"
    assert lines[5] == f"    (1): {linear}  # 170 parameters"
    assert lines[6] == "  )  # 170 parameters"
    assert lines[7] == ")  # 210 parameters in total, 4 frozen"
    assert repr(nn.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"  # PyTorch's
