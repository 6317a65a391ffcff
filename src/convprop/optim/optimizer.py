"""The one optimizer base class: parameter groups, per-parameter state, and checkpoints.

A parameter is any object with ``.data`` (a floating NumPy array, updated in place and never
rebound) and ``.grad`` (an array of the same shape, or ``None``: no gradient this step, so the
parameter is skipped). Hyperparameters live in ``param_groups``, a list of dicts as in
PyTorch, so a schedule can change ``group["lr"]`` between steps.

Checkpoint format. ``state_dict()`` is flat, ``dict[str, np.ndarray | float | int | bool]``,
so ``np.savez(path, **opt.state_dict())`` stores it and ``np.load(path, allow_pickle=False)``
reads it back (``load_state_dict`` accepts that ``NpzFile`` directly). Parameters are named
by their position ``j`` in the order the groups list them, as PyTorch does::

    "param_groups.{i}.params"   int64 array: the positions of group i's parameters
    "param_groups.{i}.{option}" float, int or bool (lr, momentum, ...); a tuple option such
                                as Adam's betas is a float64 array
    "state.{j}.{name}"          array (momentum_buffer, exp_avg, ...) in parameter j's dtype,
                                or an int counter (Adam's step)

Arrays are copies both ways: saving and then stepping does not change a saved dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

State = dict[str, np.ndarray | int]


def check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ValueError if it is negative, NaN or infinite."""
    value = float(value)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"invalid {name}: {value!r} (expected a finite number >= 0)")
    return value


def check_unit_interval(name: str, value: float, *, closed: bool = False) -> float:
    """Return ``value`` as a float; raise ValueError unless in [0, 1) ([0, 1] if closed)."""
    value = float(value)
    inside = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not inside:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"invalid {name}: {value!r} (expected a number in {interval})")
    return value


def _to_python(value: Any) -> Any:
    """A scalar read from a checkpoint (NumPy or not) as a Python scalar; arrays as tuples."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item() if np.ndim(value) == 0 else tuple(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define ``step()``.

    Args:
        params: a non-empty iterable of parameters, or of dicts ``{"params": [...], **options}``
            giving per-group options that override ``defaults``.
        defaults: every hyperparameter with its default value.
        state_keys: the names a parameter's state may hold (checked on loading).
    """

    def __init__(
        self, params: Iterable[Any], defaults: dict[str, Any], state_keys: Iterable[str]
    ) -> None:
        if hasattr(params, "data") or isinstance(params, (np.ndarray, dict)):
            raise TypeError(
                "params must be an iterable of parameters or of dicts, got a single "
                f"{type(params).__name__}; wrap it in a list"
            )
        self.defaults = dict(defaults)
        self.state_keys = frozenset(state_keys)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, State] = {}  # keyed by a parameter's position j
        self._params: list[Any] = []
        self._position: dict[int, int] = {}  # id(param) -> j
        groups = list(params)
        if not groups:
            raise ValueError("params is empty: an optimizer needs at least one parameter")
        if not all(isinstance(g, dict) for g in groups):
            if any(isinstance(g, dict) for g in groups):
                raise TypeError("params mixes parameters and dicts; give one kind")
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for a bad hyperparameter in ``group``; normalise it in place."""
        raise NotImplementedError

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        raise NotImplementedError

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], **options}``; missing options take the defaults."""
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if hasattr(params, "data") else list(params)
        if not params:
            raise ValueError("a parameter group has no parameters")
        for p in params:
            data = getattr(p, "data", None)
            if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
                raise TypeError(
                    f"a parameter needs .data, a floating NumPy array; got {type(data).__name__}"
                )
            if id(p) in self._position or sum(q is p for q in params) > 1:
                raise ValueError("a parameter appears more than once in the optimizer")
        new = {**self.defaults, **group, "params": params}
        self._validate_group(new)
        for p in params:
            self._position[id(p)] = len(self._params)
            self._params.append(p)
        self.param_groups.append(new)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients: set ``.grad`` to None (default) or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def _with_grad(self, group: dict[str, Any]) -> Iterator[tuple[State, np.ndarray, np.ndarray]]:
        """Yield ``(state, data, grad)`` for each parameter of ``group`` that has a gradient.

        ``grad`` is in the parameter's dtype; ``state`` is that parameter's (mutable) dict.
        """
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = np.asarray(p.grad, dtype=p.data.dtype)
            if grad.shape != p.data.shape:
                raise ValueError(
                    f"gradient of shape {grad.shape} for a parameter of shape {p.data.shape}"
                )
            yield self.state.setdefault(self._position[id(p)], {}), p.data, grad

    def state_dict(self) -> dict[str, np.ndarray | float | int | bool]:
        """The optimizer's hyperparameters and state as a flat dict (see the module docstring)."""
        out: dict[str, Any] = {}
        for i, group in enumerate(self.param_groups):
            positions = [self._position[id(p)] for p in group["params"]]
            out[f"param_groups.{i}.params"] = np.array(positions, dtype=np.int64)
            for key, value in group.items():
                if key != "params":
                    out[f"param_groups.{i}.{key}"] = (
                        np.array(value, dtype=np.float64) if isinstance(value, tuple) else value
                    )
        for j, state in sorted(self.state.items()):
            for name, value in state.items():
                out[f"state.{j}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, or its ``np.load``-ed ``.npz`` file.

        The optimizer must have been built over the same parameters, grouped the same way.
        Raises ValueError, changing nothing, when the checkpoint does not fit.
        """
        groups: dict[int, dict[str, Any]] = {}
        states: dict[int, State] = {}
        for key in state_dict:
            kind, index, name = (key.split(".", 2) + ["", ""])[:3]
            if kind == "param_groups" and index.isdigit() and name:
                groups.setdefault(int(index), {})[name] = state_dict[key]
            elif kind == "state" and index.isdigit() and name:
                states.setdefault(int(index), {})[name] = state_dict[key]
            else:
                raise ValueError(f"unexpected key {key!r} in an optimizer state_dict")
        if sorted(groups) != list(range(len(self.param_groups))):
            raise ValueError(
                f"the checkpoint has {len(groups)} parameter groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        new_groups = []
        for i, group in enumerate(self.param_groups):
            saved = groups[i]
            positions = [self._position[id(p)] for p in group["params"]]
            if list(np.asarray(saved.get("params", [])).tolist()) != positions:
                raise ValueError(f"parameter group {i} holds different parameters")
            missing = set(self.defaults) - set(saved)
            if missing:
                raise ValueError(f"parameter group {i} lacks {sorted(missing)}")
            new = {k: _to_python(v) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            self._validate_group(new)
            new_groups.append(new)
        new_state = {j: self._load_param_state(j, saved) for j, saved in states.items()}
        self.param_groups[:] = new_groups
        self.state = new_state

    def _load_param_state(self, j: int, saved: dict[str, Any]) -> State:
        """Parameter ``j``'s state from a checkpoint: counters as ints, buffers as copies."""
        if j >= len(self._params):
            raise ValueError(f"the checkpoint has state for parameter {j}, which is not here")
        data = self._params[j].data
        state: State = {}
        for name, value in saved.items():
            if name not in self.state_keys:
                raise ValueError(f"unexpected state {name!r} for parameter {j}")
            value = np.asarray(value)
            if value.dtype.kind in "iu" and value.ndim == 0:
                state[name] = int(value)
            elif value.shape == data.shape:
                state[name] = value.astype(data.dtype, copy=True)
            else:
                raise ValueError(
                    f"state {name!r} of parameter {j} has shape {value.shape}, "
                    f"the parameter {data.shape}"
                )
        return state
