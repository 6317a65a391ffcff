"""BatchNorm1d/2d, LayerNorm and GroupNorm against PyTorch in float64, and their state."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import nn
from convprop.ops import norm

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
F64 = np.float64


def _randomise(layer, ref) -> None:
    """Random affine parameters, the same on both sides."""
    with torch.no_grad():
        for p, q in zip(layer.parameters(), ref.parameters(), strict=True):
            p.data[...] = RNG.standard_normal(p.shape)
            q.copy_(torch.tensor(p.data))


def _compare(layer, ref, z: np.ndarray, steps: int = 1) -> None:
    """Outputs, input and parameter gradients agree to 1e-10, over ``steps`` batches."""
    for step in range(steps):
        zs = z * (1 + step) + step  # batches with other statistics
        tz = cp.Tensor(zs, dtype=F64, requires_grad=True)
        pz = torch.tensor(zs, requires_grad=True)
        out, pout = layer(tz), ref(pz)
        np.testing.assert_allclose(out.data, pout.detach().numpy(), rtol=1e-10, atol=1e-10)
        eps = RNG.standard_normal(out.shape)
        layer.zero_grad()
        ref.zero_grad()
        out.backward(eps)
        pout.backward(torch.tensor(eps))
        np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-10, atol=1e-10)
        for (name, p), (_, q) in zip(
            layer.named_parameters(), ref.named_parameters(), strict=True
        ):
            np.testing.assert_allclose(
                p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name
            )
    theirs = ref.state_dict()
    for name, value in layer.state_dict().items():
        np.testing.assert_allclose(
            value, theirs[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )


BATCH_OPTIONS = [
    {},
    {"momentum": None},
    {"momentum": 0.3, "eps": 1e-3},
    {"affine": False},
    {"track_running_stats": False},
]


@pytest.mark.parametrize("options", BATCH_OPTIONS, ids=str)
@pytest.mark.parametrize(
    ("cls", "shape"),
    [("BatchNorm2d", (4, 3, 5, 6)), ("BatchNorm1d", (7, 3)), ("BatchNorm1d", (4, 3, 5))],
)
def test_batch_norm_matches_torch_in_training_then_eval(cls, shape, options):
    layer = getattr(nn, cls)(3, dtype=F64, **options)
    ref = getattr(torch.nn, cls)(3, **options).double()
    _randomise(layer, ref)
    z = RNG.standard_normal(shape) * 2 + 0.5
    _compare(layer, ref, z, steps=3)  # running statistics after three training steps
    if layer.track_running_stats:
        assert layer.num_batches_tracked == ref.num_batches_tracked.item() == 3
    layer.eval()
    ref.eval()
    _compare(layer, ref, z + 1)


def test_batch_norm2d_on_a_batch_last_input_keeps_it_and_matches():
    layer, ref = nn.BatchNorm2d(3, dtype=F64), torch.nn.BatchNorm2d(3).double()
    _randomise(layer, ref)
    z = RNG.standard_normal((4, 3, 5, 6))
    moved = z.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2)  # (C, H, W, N) memory
    out = layer(cp.Tensor(moved, dtype=F64))
    assert out.data.transpose(1, 2, 3, 0).flags.c_contiguous
    expected = ref(torch.tensor(z)).detach().numpy()
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-10)


LAYOUTS = [(False, None), (True, None), (True, 2 * 4 * 5 * 6 * 8)]  # batch-last in 2-4 runs


@pytest.mark.parametrize(
    ("batch_last", "block_bytes"), LAYOUTS, ids=["C-order", "batch-last", "batch-last-runs"]
)
def test_batch_norm2d_gradients_on_either_layout_match_and_keep_it(
    batch_last, block_bytes, monkeypatch
):
    if block_bytes:  # channels in runs (3 = 1 + 2), as large inputs are
        monkeypatch.setattr(norm, "BLOCK_BYTES", block_bytes)
    layer, ref = nn.BatchNorm2d(3, dtype=F64), torch.nn.BatchNorm2d(3).double()
    _randomise(layer, ref)
    z, eps = RNG.standard_normal((4, 3, 5, 6)) * 2 + 1, RNG.standard_normal((4, 3, 5, 6))
    moved = z.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2) if batch_last else z
    tz, pz = cp.Tensor(moved, dtype=F64, requires_grad=True), torch.tensor(z, requires_grad=True)
    layer(tz).backward(eps)
    ref(pz).backward(torch.tensor(eps))
    assert tz.grad.transpose(1, 2, 3, 0).flags.c_contiguous == batch_last
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-10, atol=1e-10)
    for p, q in zip(layer.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("batch_last", "block_bytes"), LAYOUTS, ids=["C-order", "batch-last", "batch-last-runs"]
)
def test_batch_norm2d_float32_keeps_its_accuracy_when_the_mean_is_100_stds(
    batch_last, block_bytes, monkeypatch
):
    """A mean 100 times the standard deviation: sums of z and z^2 in float32 would lose
    about 1e-3 of the variance; the corrected two-pass method keeps ~1e-7 (2e-6 allowed)."""
    if block_bytes:
        monkeypatch.setattr(norm, "BLOCK_BYTES", block_bytes)
    z = (RNG.standard_normal((16, 4, 12, 12)) + 100).astype(np.float32)
    eps = RNG.standard_normal(z.shape).astype(np.float32)
    outs = {}
    for dtype in (np.float32, F64):
        layer = nn.BatchNorm2d(4, dtype=dtype)
        layer.weight.data[...] = [0.5, 1, 2, -1]
        layer.bias.data[...] = [0, 1, -2, 3]
        zd, ed = z.astype(dtype), eps.astype(dtype)
        if batch_last:
            zd = zd.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2)
            ed = ed.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2)
        tz = cp.Tensor(zd, dtype=dtype, requires_grad=True)
        out = layer(tz)
        out.backward(ed)
        outs[dtype] = [out.data, tz.grad, layer.weight.grad, layer.bias.grad, layer.running_var]
    names = ["x", "delta", "g_gamma", "g_beta", "running_var"]
    for name, got, want in zip(names, *outs.values(), strict=True):
        assert got.dtype == np.float32, name
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error < 2e-6, f"{name}: relative error {error:.1e}"


def test_batch_norm_train_and_eval_differ_and_eval_leaves_the_statistics():
    layer = nn.BatchNorm2d(2, dtype=F64)
    z = cp.Tensor(RNG.standard_normal((3, 2, 4, 4)) * 3 + 2, dtype=F64)
    train_out = layer(z).data
    before = layer.state_dict()
    layer.eval()
    eval_out = layer(z).data
    assert not np.allclose(train_out, eval_out)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        ("BatchNorm2d", (3,)),
        ("BatchNorm1d", (3,)),
        ("BatchNorm2d", (3, 1e-5, 0.1, False, False)),
        ("LayerNorm", ((4, 5),)),
        ("GroupNorm", (2, 4)),
    ],
)
def test_state_dict_keys_shapes_and_dtypes_are_torchs(cls, args):
    ours = getattr(nn, cls)(*args).state_dict()
    theirs = getattr(torch.nn, cls)(*args).state_dict()
    assert list(ours) == list(theirs)
    for name, value in theirs.items():
        assert ours[name].shape == tuple(value.shape), name
        assert ours[name].dtype == str(value.dtype).removeprefix("torch."), name


@pytest.mark.parametrize(
    "options",
    [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-2}],
    ids=str,
)
@pytest.mark.parametrize("normalized_shape", [5, (4, 5)])
def test_layer_norm_matches_torch(normalized_shape, options):
    layer = nn.LayerNorm(normalized_shape, dtype=F64, **options)
    ref = torch.nn.LayerNorm(normalized_shape, **options).double()
    _randomise(layer, ref)
    _compare(layer, ref, RNG.standard_normal((2, 3, 4, 5)) * 2 + 1)


@pytest.mark.parametrize("options", [{}, {"affine": False}, {"eps": 1e-2}], ids=str)
@pytest.mark.parametrize(("groups", "shape"), [(2, (3, 4, 5, 6)), (1, (3, 4, 7)), (4, (2, 4))])
def test_group_norm_matches_torch(groups, shape, options):
    layer = nn.GroupNorm(groups, shape[1], dtype=F64, **options)
    ref = torch.nn.GroupNorm(groups, shape[1], **options).double()
    _randomise(layer, ref)
    _compare(layer, ref, RNG.standard_normal(shape) * 2 + 1)


@pytest.mark.parametrize(
    "layer",
    [nn.BatchNorm2d(3), nn.BatchNorm1d(3), nn.LayerNorm((2, 5)), nn.GroupNorm(3, 3)],
    ids=lambda m: type(m).__name__,
)
def test_float32_stays_float32(layer):
    shape = {"BatchNorm1d": (4, 3, 5), "LayerNorm": (4, 2, 5)}.get(type(layer).__name__)
    z = cp.Tensor(RNG.standard_normal(shape or (4, 3, 5, 2)), requires_grad=True)
    out = layer(z)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert z.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    layer.eval()
    assert layer(z).dtype == np.float32
    assert all(v.dtype in (np.float32, np.int64) for v in layer.state_dict().values())


@pytest.mark.parametrize(
    ("layer", "shape", "name"),
    [
        (nn.BatchNorm2d(3), (4, 2, 5, 5), "BatchNorm2d(3)"),
        (nn.BatchNorm2d(3), (4, 3, 5), "BatchNorm2d(3)"),
        (nn.BatchNorm1d(3), (4, 3, 5, 5), "BatchNorm1d(3)"),
        (nn.LayerNorm(5), (4, 6), "LayerNorm((5,))"),
        (nn.GroupNorm(2, 4), (4, 3, 5), "GroupNorm(2, 4)"),
    ],
)
def test_wrong_input_shape_is_one_line_naming_the_layer(layer, shape, name):
    with pytest.raises(ValueError) as error:
        layer(cp.Tensor(np.zeros(shape)))
    message = str(error.value)
    assert name in message and "\n" not in message


def test_group_norm_with_indivisible_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


def test_batch_norm_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(cp.Tensor(np.zeros((1, 3))))
