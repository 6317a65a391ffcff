"""Tensor and backward(): broadcasting, graph handling, dtypes, errors, PyTorch agreement."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import convprop as cp
from convprop import ops
from convprop.check import gradcheck

BINARY = {"add": ops.add, "sub": ops.sub, "mul": ops.mul, "div": ops.div}


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    name=st.sampled_from(sorted(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_broadcast_gradients_sum_back_to_input_shapes(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes.input_shapes[0])
    b = rng.uniform(0.5, 2.0, shapes.input_shapes[1]) * rng.choice([-1, 1])
    result = gradcheck(BINARY[name], a, b)
    assert result.ok, str(result)
    ta, tb = cp.Tensor(a, requires_grad=True), cp.Tensor(b, requires_grad=True)
    out = BINARY[name](ta, tb)
    assert out.shape == shapes.result_shape
    out.backward(np.ones(out.shape))
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    batch=st.sampled_from([(), (2,), (1, 2)]),
    vec_a=st.booleans(),
    vec_b=st.booleans(),
)
def test_matmul_gradients_for_vectors_matrices_and_batches(n, k, m, batch, vec_a, vec_b):
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    a = rng.standard_normal((k,) if vec_a else (*batch, n, k))
    b = rng.standard_normal((k,) if vec_b else (k, m))
    assert gradcheck(ops.matmul, a, b).ok


def test_composite_agrees_with_pytorch_autograd_in_float64():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    tx, tW, tb = (cp.Tensor(v, dtype=np.float64, requires_grad=True) for v in (x, W, b))
    loss = ((tx @ tW + tb).tanh() * (tx[:, :3] ** 2).sigmoid()).sum() / (tW.exp().mean() + 1)
    loss.backward()
    px, pW, pb = (torch.tensor(v, requires_grad=True) for v in (x, W, b))
    ploss = (torch.tanh(px @ pW + pb) * torch.sigmoid(px[:, :3] ** 2)).sum() / (
        pW.exp().mean() + 1
    )
    ploss.backward()
    assert abs(loss.item() - ploss.item()) < 1e-12
    for ours, theirs in ((tx, px), (tW, pW), (tb, pb)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_gradients_accumulate_over_reused_inputs_and_calls():
    x = cp.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)
    (x * 2).sum().backward()  # a second graph accumulates into .grad, as in PyTorch
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)


def test_deep_graph_has_no_recursion_limit():
    x = cp.Tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(3))


def test_float32_is_the_default_and_is_kept():
    assert cp.Tensor([1, 2]).dtype == np.float32
    assert cp.Tensor(np.arange(3.0)).dtype == np.float32  # float64 arrays become float32
    x = cp.Tensor(np.ones((2, 2)), requires_grad=True)
    y = (x * 0.5 + np.float64(2.0) - np.ones((2, 2))) ** 2 / 3
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert cp.Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_no_grad_detach_and_leaves():
    x = cp.Tensor([1.0, -2.0], requires_grad=True)
    with cp.no_grad():
        assert not cp.is_grad_enabled()
        y = x * 2
    assert cp.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @cp.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    z = x.detach() * 3
    assert not z.requires_grad
    w = x.relu() * 3
    assert w.requires_grad and not w.is_leaf


def test_retain_graph_allows_a_second_backward():
    x = cp.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_operators_map_to_primitives():
    a = cp.Tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose((2 - a).data, 2 - a.data)
    np.testing.assert_allclose((2 / a).data, 2 / a.data)
    np.testing.assert_allclose((2**a).data, 2**a.data)
    np.testing.assert_allclose((np.eye(2) @ a).data, a.data)
    np.testing.assert_allclose(a.T.data, a.data.T)
    np.testing.assert_allclose((-a).data, -a.data)
    np.testing.assert_allclose(a[1].data, a.data[1])
    assert isinstance(np.ones(2) * a, cp.Tensor)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        cp.Tensor(np.ones((2, 3))) @ cp.Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) cannot be broadcast"):
        cp.Tensor(np.ones(3)) + cp.Tensor(np.ones(4))
    x = cp.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="non-scalar tensor of shape"):
        (x * 2).backward()
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    with pytest.raises(ValueError, match="unsupported dtype complex128"):
        cp.Tensor(np.ones(2, dtype=complex))
    with pytest.raises(ValueError, match="unsupported dtype"):
        cp.Tensor(["a", "b"])
    with pytest.raises(RuntimeError, match="does not require grad"):
        cp.Tensor([1.0]).sum().backward()
    with pytest.raises(ValueError, match="does not match"):
        (x * 2).backward(np.ones(4))
    with pytest.raises(ValueError, match="cannot reshape"):
        x.reshape(2, 2)
    with pytest.raises(ValueError, match="out of range"):
        x.sum(axis=3)
    with pytest.raises(IndexError, match="shape"):
        x[5]


@pytest.mark.parametrize(
    "first",
    [
        "from convprop.tensor import Tensor",
        "from convprop.nn import Linear; from convprop import Tensor",
        "from convprop.check import gradcheck; from convprop.tensor import Tensor",
    ],
)
def test_tensor_operators_work_whatever_is_imported_first(first):
    code = (
        f"{first}\n"
        "t = Tensor([1.0, 2.0], requires_grad=True)\n"
        "y = ((2 - t) * t / 2 + t ** 2 - (-t)).sum() + (t @ t) + t[0] + t.T.reshape(2, 1).sum()\n"
        "y.backward()\n"
        "assert t.grad.tolist() == [7.0, 9.0], t.grad  # 3 + 3 t, and 1 from t[0]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_core_loads_no_application_and_no_torch():
    code = (
        "import sys\n"
        "import convprop, convprop.nn, convprop.optim, convprop.data, convprop.train\n"
        "import convprop.check, convprop.checkpoint, convprop.report, convprop.distributed\n"
        "apps = ('convprop.cli', 'convprop.experiments', 'convprop.grading', 'convprop.bench',\n"
        "        'convprop.plots', 'convprop.evaluate', 'torch', 'matplotlib')\n"
        "loaded = [m for m in sys.modules if m.startswith(apps)]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------ issue 15: conveniences
def test_comparisons_give_bool_tensors_without_gradient_and_tensors_hash_by_identity():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 2.0], [5.0, 0.0, 5.0]])
    t = cp.Tensor(a, requires_grad=True)
    ta = torch.tensor(a)
    pairs = [
        (t < 2, ta < 2), (t <= 2, ta <= 2), (t > t[0], ta > ta[0]), (3 >= t, 3 >= ta),
        (t == 5, ta == 5), (t != t.T.T, ta != ta), (np.ones(3) < t, torch.ones(3) < ta),
    ]  # fmt: skip
    for ours, theirs in pairs:
        assert ours.dtype == np.bool_ and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert {t: 1}[t] == 1 and t in [t] and len({t, cp.Tensor(a)}) == 2  # identity, as torch
    assert ((t > 2) * t).dtype == np.float32 and ((t > 2) * 0.5).dtype == np.float32
    np.testing.assert_array_equal((t > 2).float().data, (a > 2).astype(np.float32))
    assert (t == 5).any().item() is True and (t == 5).all().item() is False
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t > 2)
    with pytest.raises(ValueError, match="only floating tensors can require gradients"):
        cp.Tensor([True], dtype=bool, requires_grad=True)


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin_and_min_equal_pytorch(dim, keepdim):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0, -2.0], [5.0, -2.0, 5.0, 0.5], [0.0, 0.0, 1.0, -2.0]])
    t, ta = cp.Tensor(a, dtype=np.float64, requires_grad=True), torch.tensor(a, requires_grad=True)
    for name in ("argmax", "argmin"):
        ours = getattr(t, name)(dim, keepdim)
        theirs = getattr(ta, name)(dim=dim, keepdim=keepdim)
        assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    ours = t.min() if dim is None else t.min(dim=dim, keepdim=keepdim)
    theirs = ta.min() if dim is None else ta.min(dim=dim, keepdim=keepdim).values
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    eps = np.arange(1.0, 1.0 + ours.size).reshape(ours.shape)
    ours.backward(eps)
    theirs.backward(torch.tensor(eps))
    if dim is None:  # torch splits the gradient evenly over tied minima, as ours
        np.testing.assert_allclose(t.grad, ta.grad.numpy(), rtol=1e-12)
    else:  # torch sends it to one of the tied entries; ours splits it: the sums agree
        np.testing.assert_allclose(t.grad.sum(dim), ta.grad.numpy().sum(dim), rtol=1e-12)
    assert cp.Tensor(a).sum(dim=0, keepdim=True).shape == (1, 4)


def test_shape_methods_equal_pytorch_with_gradients():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 1, 3, 1))
    calls = [
        lambda x: x.view(3, 2),
        lambda x: x.view(-1),
        lambda x: x.squeeze(),
        lambda x: x.squeeze(1),
        lambda x: x.squeeze(0),  # size 2: kept
        lambda x: x.squeeze((1, 3)),
        lambda x: x.unsqueeze(0),
        lambda x: x.unsqueeze(-1),
        lambda x: x.permute(2, 0, 3, 1),
        lambda x: x.permute((3, 2, 1, 0)),
        lambda x: x.flatten(),
        lambda x: x.flatten(1),
        lambda x: x.flatten(1, 2),
        lambda x: x.clone() * 2,
        lambda x: x.float().double() * 3,
        lambda x: x.to(x.dtype) * 3,
    ]
    eps_rng = np.random.default_rng(1)
    for call in calls:
        t = cp.Tensor(a, dtype=np.float64, requires_grad=True)
        ta = torch.tensor(a, requires_grad=True)
        ours, theirs = call(t), call(ta)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float64
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-7)
        eps = eps_rng.standard_normal(ours.shape)
        ours.backward(eps)
        theirs.backward(torch.tensor(eps))
        np.testing.assert_allclose(t.grad, ta.grad.numpy(), rtol=1e-7)
    assert cp.Tensor(3.0).flatten().shape == (1,)


def test_clone_copies_and_casts_keep_the_graph_and_the_dtype():
    x = cp.Tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and c.requires_grad
    c.data[0] = 7.0
    assert x.data[0] == 1.0
    d = x.double()
    assert d.dtype == np.float64 and x.float() is x and x.to("cpu") is x
    (d * d).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert x.to(np.int64).dtype == np.int64 and not x.to(bool).requires_grad
    assert (x > 1).sum().item() == 1 and cp.Tensor([2.0]).item() == 2.0
    with pytest.raises(ValueError, match="unsupported dtype complex"):
        x.to(np.complex64)
    with pytest.raises(ValueError, match="CPU only"):
        x.to("cuda")
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        x.unsqueeze(2)
    with pytest.raises(ValueError, match="permute: 2 dims"):
        x.permute(1, 0)
