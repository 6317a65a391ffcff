"""Module, the one base class of every layer, and Parameter, what a layer learns.

A layer sets its parameters and its sub-layers as plain attributes in ``__init__``; ``Module``
finds them in attribute order. The rule, in full:

- a **parameter** is an attribute holding a :class:`Parameter`. A leaf Tensor with
  ``requires_grad=True`` set as an attribute becomes one (the same object, its class changed), so
  ``self.weight = Tensor(w, requires_grad=True)`` registers it; freezing it later
  (``requires_grad=False``) keeps it a parameter, in ``parameters()`` and ``state_dict()``;
- a **buffer** is an attribute named by :meth:`Module.register_buffer` (running statistics,
  say): in ``state_dict()`` unless ``persistent=False``, never trained;
- a **sub-module** is an attribute holding a :class:`Module`; its names get a prefix
  (``"features.3.bias"``), as in PyTorch;
- anything else (a plain Tensor, a number, a generator) is neither, as in PyTorch.

There is no other base class and no metaclass; subclasses need not call ``__init__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from convprop.tensor import FLOAT_DTYPES, Tensor

Buffer = np.ndarray | Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer trains (``requires_grad=True`` by default).

    ``Parameter(t)`` of a Tensor shares its array, as ``torch.nn.Parameter`` does.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, *, dtype: Any = None) -> None:
        if isinstance(data, Tensor) and dtype is None:
            dtype = data.dtype
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base of all layers: parameters, buffers, train/eval mode, state dicts."""

    training: bool = True

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any) -> Tensor:
        return self.forward(*args)

    def __setattr__(self, name: str, value: Any) -> None:
        if type(value) is Tensor and value.requires_grad and value.is_leaf:
            value.__class__ = Parameter  # a trainable leaf set on a module is its parameter:
            # the same object (an optimizer given it trains the module's), now a Parameter
        object.__setattr__(self, name, value)

    # -- registration ----------------------------------------------------------------------
    def register_parameter(self, name: str, param: Parameter | Tensor | None) -> None:
        """Set ``param`` as the parameter ``name`` (a Tensor becomes a Parameter over its
        array, keeping its ``requires_grad``); ``None`` declares an absent one (no bias)."""
        _check_name(self, name)
        if name in vars(self).get("_buffers", {}):
            raise KeyError(f"{type(self).__name__} already has a buffer called {name!r}")
        if param is not None and not isinstance(param, Tensor):
            raise TypeError(f"parameter {name!r} must be a Tensor or None, got {type(param)}")
        if param is not None and not isinstance(param, Parameter):
            param = Parameter(param, param.requires_grad)
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, value: Buffer | None, persistent: bool = True) -> None:
        """Set ``value`` (an array or Tensor, never trained) as the buffer ``name``.

        A persistent buffer is in :meth:`state_dict`; re-assigning ``self.name`` later keeps
        it a buffer. ``None`` declares a buffer not yet held (left out of the state dict).
        """
        _check_name(self, name)
        if isinstance(vars(self).get(name), Parameter):
            raise KeyError(f"{type(self).__name__} already has a parameter called {name!r}")
        if value is not None and not isinstance(value, np.ndarray | Tensor):
            raise TypeError(f"buffer {name!r} must be an array, Tensor or None, not {type(value)}")
        if "_buffers" not in vars(self):
            object.__setattr__(self, "_buffers", {})
        self._buffers[name] = persistent
        object.__setattr__(self, name, value)

    # -- structure -------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``("0.weight", p)`` pairs: every parameter, frozen ones included, in attribute
        order; a parameter shared by two layers comes once, under its first name."""
        seen: set[int] = set()
        for name, p in self._named("parameter", prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self) -> list[Parameter]:
        """Every parameter, in :meth:`named_parameters` order (what an optimizer takes)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Buffer]]:
        """``("bn.running_mean", array)`` pairs: every buffer held, in attribute order."""
        return self._named("buffer", prefix)

    def buffers(self) -> list[Buffer]:
        return [b for _, b in self.named_buffers()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def _named(self, kind: str, prefix: str) -> Iterator[tuple[str, Any]]:
        """Walk attributes in order: ``kind`` is "parameter", "buffer" or "state" (parameters
        and persistent buffers); sub-modules are walked with ``name.`` prefixed."""
        buffers = vars(self).get("_buffers", {})
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield from value._named(kind, prefix + name + ".")
            elif value is None:
                continue
            elif name in buffers:
                if kind == "buffer" or (kind == "state" and buffers[name]):
                    yield prefix + name, value
            elif isinstance(value, Parameter) and kind != "buffer":
                yield prefix + name, value

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active); ``train(False)`` is :meth:`eval`."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter; frozen ones stay parameters."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # -- dtype -----------------------------------------------------------------------------
    def to(self, *args: Any, dtype: Any = None) -> Module:
        """Cast every parameter (and its ``.grad``) and every floating buffer to ``dtype`` in
        place: the same Parameter objects hold new arrays, as ``torch.nn.Module.to``. Takes a
        dtype, ``dtype=``, or ``"cpu"`` (the only device). Returns the module.

        An optimizer built before keeps its per-parameter state in the old dtype: build it
        after the cast, as in PyTorch.
        """
        for arg in args:
            if isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps"):
                if arg.split(":")[0] != "cpu":
                    raise ValueError(f"to({arg!r}): convprop runs on the CPU only")
            else:
                dtype = arg
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"Module.to: dtype must be a float dtype, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = p.grad.astype(dtype, copy=False)
        for m in self.modules():
            for name in vars(m).get("_buffers", {}):
                value = getattr(m, name)
                if value is not None and _array(value).dtype.kind == "f":
                    if isinstance(value, Tensor):
                        value.data = value.data.astype(dtype, copy=False)
                    else:
                        object.__setattr__(m, name, value.astype(dtype, copy=False))
        return self

    def float(self) -> Module:
        """Cast parameters and floating buffers to float32 (:meth:`to`)."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Cast parameters and floating buffers to float64 (:meth:`to`)."""
        return self.to(np.float64)

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter (frozen ones too) and every persistent buffer, by name."""
        return {name: np.array(_array(v)) for name, v in self._named("state", "")}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the parameters and persistent buffers in place; keys and shapes
        must match (``strict=False`` skips missing and unexpected keys), named on error."""
        own = {name: _array(v) for name, v in self._named("state", "")}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise ValueError(
                f"state dict does not fit this {type(self).__name__} (a checkpoint of another "
                f"model?): missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        mismatched = [
            f"{n}: model {a.shape}, given {np.shape(state[n])}"
            for n, a in own.items()
            if n in state and np.shape(state[n]) != a.shape
        ]
        if mismatched:
            raise ValueError(
                "shape mismatch in state dict (from another model?): " + "; ".join(mismatched)
            )
        for name, a in own.items():
            if name in state:
                np.copyto(a, np.asarray(state[name]), casting="same_kind")

    # -- display ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """PyTorch's repr, with parameter counts: each sub-module's line ends in its count
        (``# 160 parameters``), each container's closing line in its total, and the top one's
        in the model's total (with how many are frozen, if any). A lone layer reads as in
        PyTorch."""
        if not any(True for _ in self.named_children()):
            return self._describe()
        params = self.parameters()
        total = sum(p.size for p in params)
        frozen = sum(p.size for p in params if not p.requires_grad)
        note = f", {frozen:,} frozen" if frozen else ""
        return f"{self._describe()}  # {total:,} parameters in total{note}"

    def _describe(self) -> str:
        """The repr without the top-level total: one line per sub-module, counts beside."""
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = []
        for name, m in children:
            count = m.num_parameters()
            tail = f"  # {count:,} parameters" if count else ""
            lines.append(f"  ({name}): " + m._describe().replace("\n", "\n  ") + tail)
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _array(value: Buffer) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else value


def _check_name(module: Module, name: str) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"a parameter or buffer name is a string without '.', got {name!r}")
    if isinstance(vars(module).get(name), Module):
        raise KeyError(f"{type(module).__name__} already has a sub-module called {name!r}")
