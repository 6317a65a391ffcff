"""Loss modules against PyTorch in float64 (losses and input gradients to 1e-10) over their
options; weights as buffers in state_dict; float32 kept; bad input named."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import convprop as cp
from convprop import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((7, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2, 0, 1])
WEIGHT = np.array([0.3, 1.0, 2.5, 0.7])
REDUCTIONS = ["mean", "sum", "none"]


def _compare(ours, theirs, z: np.ndarray, *targets, target_grad: bool = False):
    """Loss and gradients (the input's, and the first target's with ``target_grad``). Plain
    float64 targets also check that constants mixed with float64 tensors stay float64."""
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    pz = torch.tensor(z, requires_grad=True)
    ct = [
        cp.Tensor(t, dtype=np.float64, requires_grad=True) if target_grad else t for t in targets
    ]
    pt = [torch.tensor(t, requires_grad=target_grad and t.dtype.kind == "f") for t in targets]
    loss, ploss = ours(tz, *ct), theirs(pz, *pt)
    np.testing.assert_allclose(loss.data, ploss.detach().numpy(), rtol=1e-10, atol=1e-13)
    eps = RNG.standard_normal(loss.shape)
    loss.backward(eps)
    ploss.backward(torch.tensor(eps))
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-10, atol=1e-13)
    if target_grad:
        np.testing.assert_allclose(ct[0].grad, pt[0].grad.numpy(), rtol=1e-10, atol=1e-13)


CE_OPTIONS = list(itertools.product([None, WEIGHT], [-100, 1], REDUCTIONS, [0.0, 0.2]))


@pytest.mark.parametrize("weight, ignore_index, reduction, smoothing", CE_OPTIONS)
def test_cross_entropy_loss_matches_torch(weight, ignore_index, reduction, smoothing):
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    ours = nn.CrossEntropyLoss(weight, **kwargs)
    theirs = torch.nn.CrossEntropyLoss(None if weight is None else torch.tensor(weight), **kwargs)
    _compare(ours, theirs, LOGITS, LABELS)


@pytest.mark.parametrize("weight", [None, WEIGHT])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_loss_with_probability_targets_matches_torch(weight, reduction, smoothing):
    p = RNG.dirichlet(np.ones(4), size=7)
    w = None if weight is None else torch.tensor(weight)
    ours = nn.CrossEntropyLoss(weight, reduction=reduction, label_smoothing=smoothing)
    theirs = torch.nn.CrossEntropyLoss(w, reduction=reduction, label_smoothing=smoothing)
    _compare(ours, theirs, LOGITS, p)


def test_every_row_ignored_gives_nan_for_the_mean_as_torch():
    labels = np.full(7, 5)
    for weight in (None, WEIGHT):
        ours = nn.CrossEntropyLoss(weight, ignore_index=5)(cp.Tensor(LOGITS), labels)
        theirs = torch.nn.CrossEntropyLoss(
            None if weight is None else torch.tensor(weight), ignore_index=5
        )(torch.tensor(LOGITS), torch.tensor(labels))
        assert np.isnan(ours.item()) and np.isnan(theirs.item())
        assert np.isnan(nn.NLLLoss(weight, ignore_index=5)(cp.Tensor(LOGITS), labels).item())


@pytest.mark.parametrize(
    "weight, ignore_index, reduction",
    list(itertools.product([None, WEIGHT], [-100, 3], REDUCTIONS)),
)
def test_nll_loss_matches_torch(weight, ignore_index, reduction):
    ours = nn.NLLLoss(weight, ignore_index=ignore_index, reduction=reduction)
    theirs = torch.nn.NLLLoss(
        None if weight is None else torch.tensor(weight),
        ignore_index=ignore_index,
        reduction=reduction,
    )
    _compare(
        lambda z, t: ours(nn.LogSoftmax(1)(z), t),
        lambda z, t: theirs(z.log_softmax(1), t),
        LOGITS,
        LABELS,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction):
    t = RNG.standard_normal((3, 5))
    ours, theirs = nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction)
    _compare(ours, theirs, RNG.standard_normal((3, 5)), t)


BCE_OPTIONS = list(
    itertools.product(
        [None, RNG.uniform(0.5, 2, 4), RNG.uniform(0.5, 2, (7, 4))],  # none, per class, per entry
        [None, RNG.uniform(0.2, 4, 4)],
        REDUCTIONS,
    )
)


@pytest.mark.parametrize("weight, pos_weight, reduction", BCE_OPTIONS)
def test_bce_with_logits_loss_matches_torch_for_input_and_target(weight, pos_weight, reduction):
    def tt(a):
        return None if a is None else torch.tensor(a)

    z = np.concatenate([LOGITS, [[-800.0, -40.0, 40.0, 800.0]]]) if weight is None else LOGITS
    t = RNG.uniform(0, 1, z.shape)
    ours = nn.BCEWithLogitsLoss(weight, reduction=reduction, pos_weight=pos_weight)
    theirs = torch.nn.BCEWithLogitsLoss(tt(weight), reduction=reduction, pos_weight=tt(pos_weight))
    _compare(ours, theirs, z, t, target_grad=True)


def test_weights_are_buffers_in_state_dict_as_in_torch():
    pairs = [
        (nn.CrossEntropyLoss(WEIGHT), torch.nn.CrossEntropyLoss(torch.tensor(WEIGHT))),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
        (nn.NLLLoss(WEIGHT), torch.nn.NLLLoss(torch.tensor(WEIGHT))),
        (nn.MSELoss(), torch.nn.MSELoss()),
        (
            nn.BCEWithLogitsLoss(pos_weight=WEIGHT),
            torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(WEIGHT)),
        ),
    ]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert ours.parameters() == []
    assert list(nn.Sequential(nn.Linear(2, 4), nn.CrossEntropyLoss(WEIGHT)).state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
    ]


def test_legacy_size_average_and_reduce_map_as_in_torch():
    for size_average, reduce in itertools.product([None, True, False], repeat=2):
        with pytest.warns(UserWarning) if (size_average, reduce) != (None, None) else _nothing():
            theirs = torch.nn.MSELoss(size_average, reduce)
        assert nn.MSELoss(size_average, reduce).reduction == theirs.reduction


class _nothing:  # noqa: N801 (a context manager that checks nothing)
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


@pytest.mark.parametrize(
    "loss, target",
    [
        (nn.CrossEntropyLoss(), LABELS),
        (nn.CrossEntropyLoss(WEIGHT, label_smoothing=0.1, ignore_index=1), LABELS),
        (nn.NLLLoss(WEIGHT), LABELS),
        (nn.MSELoss(), LOGITS),
        (nn.BCEWithLogitsLoss(WEIGHT, pos_weight=WEIGHT), RNG.uniform(0, 1, (7, 4))),
    ],
    ids=repr,
)
def test_float32_stays_float32(loss, target):
    z = cp.Tensor(LOGITS.astype(np.float32), requires_grad=True)
    out = loss(z, target)
    out.backward()
    assert out.dtype == z.grad.dtype == np.float32


def test_bad_input_is_named_in_one_line():
    z = cp.Tensor(LOGITS)
    cases = [
        (lambda: nn.CrossEntropyLoss(np.ones(3))(z, LABELS), r"one entry per class, \(4,\)"),
        (lambda: nn.CrossEntropyLoss(reduction="avg"), "unknown reduction"),
        (lambda: nn.CrossEntropyLoss(ignore_index=0)(z, np.eye(7, 4)), "ignore_index is not"),
        (lambda: nn.NLLLoss()(z, LABELS + 1), r"labels must lie in \[0, 3\]"),
        (lambda: nn.NLLLoss()(z, LABELS * 1.0), "labels must be integers"),
        (lambda: nn.BCEWithLogitsLoss()(z, np.ones((7, 3))), "must have one shape"),
        (lambda: nn.BCEWithLogitsLoss(np.ones(3))(z, np.ones((7, 4))), "does not broadcast"),
        (lambda: nn.BCEWithLogitsLoss(np.ones((2, 7, 4)))(z, np.ones((7, 4))), "would make"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
