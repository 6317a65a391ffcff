"""Optimizer checkpoints: state_dict round trips through .npz, and what a bad one raises."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from convprop.optim import SGD, Adam, AdamW
from tests.optim.test_steps import SHAPES, Param, gradients, initial, train, two_groups

CHECKPOINTED = {
    "sgd": lambda p: SGD(two_groups(p, {"lr": 0.01}), lr=0.1, momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov-dampened": lambda p: SGD(
        two_groups(p, {"nesterov": True}), lr=0.1, momentum=0.8, dampening=0.0
    ),
    "sgd-classical": lambda p: SGD(p, lr=0.1, momentum=0.9, form="classical"),
    "adam-amsgrad": lambda p: Adam(two_groups(p, {"betas": (0.8, 0.99)}), lr=0.01, amsgrad=True),
    "adamw": lambda p: AdamW(p, lr=0.01),
}


@pytest.mark.parametrize("name", sorted(CHECKPOINTED))
def test_state_dict_round_trip_through_npz(name: str, tmp_path: Any) -> None:
    make, grads = CHECKPOINTED[name], gradients()
    straight = [Param(x) for x in initial()]
    train(make(straight), straight, grads)

    params = [Param(x) for x in initial()]
    opt = make(params)
    train(opt, params, grads[:50])
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    np.savez(tmp_path / "params.npz", *[p.data for p in params])

    with np.load(tmp_path / "params.npz", allow_pickle=False) as saved:
        resumed = [Param(saved[f"arr_{i}"]) for i in range(len(SHAPES))]
    resumed_opt = make(resumed)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as saved:
        resumed_opt.load_state_dict(saved)
    train(resumed_opt, resumed, grads[50:], start=50)
    for p, q in zip(resumed, straight, strict=True):
        assert np.array_equal(p.data, q.data)
    for group, saved_group in zip(resumed_opt.param_groups, opt.param_groups, strict=True):
        options = {k: v for k, v in group.items() if k != "params"}
        assert options == {k: v for k, v in saved_group.items() if k != "params"}
        assert all(type(v) is type(saved_group[k]) for k, v in options.items())


def test_state_dict_is_flat_and_detached() -> None:
    params = [Param(x) for x in initial()]
    opt = Adam(params, lr=0.01)
    train(opt, params, gradients(3))
    state = opt.state_dict()
    assert state["param_groups.0.params"].tolist() == [0, 1]
    assert state["param_groups.0.betas"].tolist() == [0.9, 0.999]
    assert state["state.0.step"] == 3 and state["state.1.step"] == 2
    for key, value in state.items():
        assert isinstance(value, (np.ndarray, float, int, bool)), key
    before = state["state.0.exp_avg"].copy()
    train(opt, params, gradients(2))
    assert np.array_equal(state["state.0.exp_avg"], before)


def test_load_state_dict_rejects_a_checkpoint_that_does_not_fit() -> None:
    params = [Param(x) for x in initial()]
    adam = Adam(params, lr=0.01)
    train(adam, params, gradients(2))
    with pytest.raises(ValueError, match="lacks"):
        SGD([Param(x) for x in initial()], lr=0.1).load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="groups"):
        Adam(two_groups([Param(x) for x in initial()], {}), lr=0.01).load_state_dict(
            adam.state_dict()
        )
    other = [Param(np.zeros(4)), Param(np.zeros(3))]
    with pytest.raises(ValueError, match="shape"):
        Adam(other, lr=0.01).load_state_dict(adam.state_dict())
    bad = {**adam.state_dict(), "param_groups.0.lr": -1.0}
    fresh = Adam([Param(x) for x in initial()], lr=0.01)
    with pytest.raises(ValueError, match="lr"):
        fresh.load_state_dict(bad)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.01  # nothing changed
