"""Every primitive, from the op list: forward vs reference, float64 gradcheck, adjoint test."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop.check import adjoint_test, gradcheck
from convprop.ops import PRIMITIVES
from tests.ops.samples import SAMPLES

NAMES = sorted(PRIMITIVES)


def test_every_primitive_has_a_sample():
    missing = sorted(set(PRIMITIVES) - set(SAMPLES))
    assert not missing, f"primitives without a test sample in tests/ops/samples.py: {missing}"
    stale = sorted(set(SAMPLES) - set(PRIMITIVES))
    assert not stale, f"samples for primitives that do not exist: {stale}"


def _recorded_primitive(name: str, tensors: list[cp.Tensor]) -> cp.Tensor:
    out = SAMPLES[name].call(*tensors)
    assert out._node is not None and out._node.prim is PRIMITIVES[name], (
        f"sample for {name!r} does not call that primitive last"
    )
    return out


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_reference_and_keeps_float32(name):
    sample = SAMPLES[name]
    arrays = [a.astype(np.float32) for a in sample.make(np.random.default_rng(1))]
    tensors = [cp.Tensor(a, requires_grad=True) for a in arrays]
    out = _recorded_primitive(name, tensors)
    expected = sample.ref(*(a.astype(np.float64) for a in arrays))
    assert out.dtype == np.float32
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=2e-5, atol=2e-5)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name):
    sample = SAMPLES[name]
    arrays = sample.make(np.random.default_rng(2))
    result = gradcheck(sample.call, *arrays, wrt=sample.wrt, **sample.tol)
    assert result.ok, str(result)


def _adjoint_of(name: str, arrays: list[np.ndarray], free: tuple[int, ...]):
    """F and G over the inputs in ``free`` (flattened into one vector); others held fixed."""
    shapes = [arrays[i].shape for i in free]
    sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def tensors_from(v):
        ts = [cp.Tensor(a, dtype=np.float64) for a in arrays]
        for k, i in enumerate(free):
            ts[i] = cp.Tensor(
                v[sizes[k] : sizes[k + 1]].reshape(shapes[k]), dtype=np.float64, requires_grad=True
            )
        return ts

    def F(v):  # noqa: N802
        return _recorded_primitive(name, tensors_from(v)).data

    def G(eps):  # noqa: N802
        ts = tensors_from(np.zeros(sizes[-1]))
        _recorded_primitive(name, ts).backward(eps)
        return np.concatenate([ts[i].grad.ravel() for i in free])

    out_shape = F(np.zeros(sizes[-1])).shape
    return F, G, (int(sizes[-1]),), out_shape


LINEAR = [n for n in NAMES if PRIMITIVES[n].linear or PRIMITIVES[n].bilinear]


@pytest.mark.parametrize("name", LINEAR)
def test_adjoint_identity_for_linear_ops(name):
    """<F(z), eps> == <z, G(eps)>: jointly in all inputs for linear ops, one at a time for
    bilinear ones."""
    arrays = SAMPLES[name].make(np.random.default_rng(3))
    if PRIMITIVES[name].linear:
        groups = [tuple(range(len(arrays)))]
    else:  # bilinear in the first two inputs; an additive bias (conv2d's) is held at zero
        groups = [(0,), (1,)]
        arrays = arrays[:2] + [np.zeros_like(a) for a in arrays[2:]]
    for free in groups:
        F, G, in_shape, out_shape = _adjoint_of(name, arrays, free)
        result = adjoint_test(F, G, in_shape, out_shape)
        assert result.ok, f"{name}, inputs {free}: {result}"


# ------------------------------------------------------------------ memory layouts
# The conv engines hand on C-contiguous arrays or batch-last views (``batch_last``: NCHW values
# in (C, H, W, N) memory). Every primitive must give the same numbers on either, with the
# gradient arriving in either; one declared ``layout="keeps"`` must also return its first
# input's layout, for its output and that input's gradient (ops/layout.py says why).


def batch_last(a: np.ndarray) -> np.ndarray:
    """The same NCHW values, laid out in memory as (C, H, W, N); other arrays unchanged."""
    return a.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2) if a.ndim == 4 else a


def layout_of(a: np.ndarray) -> str:
    if a.flags.c_contiguous:
        return "C"
    return "batch_last" if a.ndim == 4 and a.transpose(1, 2, 3, 0).flags.c_contiguous else "?"


def _run(name: str, arrays: list[np.ndarray], eps_layout):
    tensors = [cp.Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    out = _recorded_primitive(name, tensors)
    eps = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(eps_layout(eps) if eps.ndim == 4 else eps)
    return out.data, [t.grad for t in tensors]


@pytest.mark.parametrize("eps_layout", [np.ascontiguousarray, batch_last], ids=["C", "BL"])
@pytest.mark.parametrize("name", NAMES)
def test_every_layout_in_gives_the_same_numbers_and_the_declared_layout_out(name, eps_layout):
    prim = PRIMITIVES[name]
    arrays = SAMPLES[name].make(np.random.default_rng(4))
    if prim.layout == "keeps":
        assert arrays[0].ndim == 4, f"{name} keeps a layout: its sample needs a 4-D input"
    out_c, grads_c = _run(name, arrays, np.ascontiguousarray)
    moved = [batch_last(a) for a in arrays]
    out, grads = _run(name, moved, eps_layout)
    np.testing.assert_allclose(out, out_c, rtol=1e-12, atol=1e-12)
    for g, g_c in zip(grads, grads_c, strict=True):
        np.testing.assert_allclose(g, g_c, rtol=1e-12, atol=1e-12)
    if prim.layout == "keeps":
        for given, (o, g) in [(arrays, (out_c, grads_c[0])), (moved, (out, grads[0]))]:
            want = layout_of(given[0])
            assert layout_of(o) == want and layout_of(g) == want, (
                f"{name} declares layout='keeps' but turned a {want} input into a "
                f"{layout_of(o)} output and a {layout_of(g)} gradient"
            )
