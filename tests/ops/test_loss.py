"""Softmax, cross-entropy and one-hot: against PyTorch, stability, and the seed's Q3 identities."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import ops
from convprop.check import gradcheck

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((6, 4))
LABELS = np.array([0, 3, 1, 1, 2, 0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["indices", "one_hot", "probabilities"])
def test_cross_entropy_matches_pytorch(reduction, smoothing, kind):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    target = {
        "indices": LABELS,
        "one_hot": ops.one_hot(LABELS, 4, np.float64),
        "probabilities": RNG.dirichlet(np.ones(4), size=6),
    }[kind]
    z = cp.Tensor(LOGITS, dtype=np.float64, requires_grad=True)
    loss = ops.cross_entropy(z, target, reduction=reduction, label_smoothing=smoothing)
    tz = torch.tensor(LOGITS, requires_grad=True)
    tloss = tF.cross_entropy(
        tz, torch.tensor(target), reduction=reduction, label_smoothing=smoothing
    )
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    eps = RNG.standard_normal(loss.shape)
    loss.backward(eps)
    tloss.backward(torch.tensor(eps))
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    z = cp.Tensor(LOGITS, dtype=np.float64, requires_grad=True)
    ops.cross_entropy(z, LABELS, reduction="sum").backward()
    expected = ops.softmax(LOGITS).data - ops.one_hot(LABELS, 4)
    np.testing.assert_allclose(z.grad, expected, rtol=1e-6, atol=1e-7)
    assert gradcheck(lambda t: ops.cross_entropy(t, LABELS, label_smoothing=0.2), LOGITS).ok


def test_large_logits_give_no_nan_or_inf():
    z = cp.Tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], requires_grad=True)
    loss = ops.cross_entropy(z, np.array([2, 0]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(2e4 + np.log(2) / 2, rel=1e-6)
    assert np.all(np.isfinite(z.grad))
    for f in (ops.softmax, ops.log_softmax):
        assert np.all(np.isfinite(f(cp.Tensor([[1e4, -1e4]])).data[:, :1]))
    assert z.dtype == loss.dtype == np.float32


def test_softmax_satisfies_the_seed_constraints_q3_2():
    f = ops.softmax(cp.Tensor(RNG.standard_normal((5, 7)) * 30)).data
    assert np.all(f >= 0)
    np.testing.assert_allclose(f.sum(axis=1), 1, rtol=1e-6)


def test_log_likelihood_is_minus_summed_cross_entropy_q3_5():
    x = ops.one_hot(LABELS, 4, np.float64)
    log_f = ops.log_softmax(cp.Tensor(LOGITS, dtype=np.float64)).data
    log_p = np.sum(x * log_f)  # sum_k sum_m x_km log f(m | y_k)
    ce = ops.cross_entropy(cp.Tensor(LOGITS, dtype=np.float64), LABELS, reduction="sum")
    assert log_p == pytest.approx(-ce.item(), rel=1e-12)


def test_nll_and_mse_match_pytorch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    lp = ops.log_softmax(cp.Tensor(LOGITS, dtype=np.float64, requires_grad=True))
    ours = ops.nll_loss(lp, LABELS)
    theirs = tF.nll_loss(tF.log_softmax(torch.tensor(LOGITS), 1), torch.tensor(LABELS))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    a, b = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    for red in ("mean", "sum"):
        assert ops.mse_loss(cp.Tensor(a, dtype=np.float64), b, reduction=red).item() == (
            pytest.approx(tF.mse_loss(torch.tensor(a), torch.tensor(b), reduction=red).item())
        )


def test_bad_loss_input_is_named():
    with pytest.raises(ValueError, match="labels must lie in"):
        ops.cross_entropy(cp.Tensor(LOGITS), np.array([0, 1, 2, 3, 4, 5]))
    with pytest.raises(ValueError, match="6 labels for 5 rows"):
        ops.cross_entropy(cp.Tensor(LOGITS[:5]), LABELS)
    with pytest.raises(ValueError, match="unknown reduction"):
        ops.cross_entropy(cp.Tensor(LOGITS), LABELS, reduction="avg")
    with pytest.raises(ValueError, match=r"logits of shape \(K, M\)"):
        ops.cross_entropy(cp.Tensor(LOGITS[0]), LABELS[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        ops.mse_loss(cp.Tensor(np.ones(3)), np.ones(4))


W4 = np.array([0.3, 1.0, 2.5, 0.7])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weight", [None, W4], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", ["indices", "probabilities"])
def test_fused_cross_entropy_adjoint_matches_central_differences(
    kind, weight, smoothing, reduction
):
    """The fused G with weights, ignored rows (label 2 ignored) and smoothing: float64
    gradcheck of <eps, L(z)> (eps random for reduction="none")."""
    target = LABELS if kind == "indices" else RNG.dirichlet(np.ones(4), size=6)
    ignore = 2 if kind == "indices" else -100
    eps = RNG.standard_normal(6) if reduction == "none" else 1.0

    def loss(z):
        out = ops.cross_entropy(
            z, target, weight, ignore_index=ignore, reduction=reduction, label_smoothing=smoothing
        )
        return (out * eps).sum()

    assert gradcheck(loss, LOGITS).ok


def test_ignored_rows_add_nothing_and_the_weighted_mean_divides_by_their_weights():
    labels = np.array([0, 3, -1, 1, -1, 0])
    z = cp.Tensor(LOGITS, dtype=np.float64, requires_grad=True)
    loss = ops.cross_entropy(z, labels, W4, ignore_index=-1)
    loss.backward()
    kept = labels != -1
    log_f = ops.log_softmax(cp.Tensor(LOGITS, dtype=np.float64)).data
    rows = -W4[labels[kept]] * log_f[kept, labels[kept]]
    assert loss.item() == pytest.approx(rows.sum() / W4[labels[kept]].sum(), rel=1e-12)
    assert not z.grad[~kept].any()
    log_probs = ops.log_softmax(cp.Tensor(LOGITS, dtype=np.float64))
    nll = ops.nll_loss(log_probs, labels, W4, ignore_index=-1)
    assert nll.item() == pytest.approx(loss.item(), rel=1e-12)


def test_numpy_constants_keep_a_float64_tensors_precision():
    a, b = RNG.standard_normal(5), RNG.standard_normal(5)
    assert np.array_equal((cp.Tensor(a, dtype=np.float64) - b).data, a - b)
    assert ops.mse_loss(cp.Tensor(a, dtype=np.float64), b).item() == np.mean((a - b) ** 2)
