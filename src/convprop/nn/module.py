"""Module: the one base class of every layer.

A layer sets its parameters (Tensors with ``requires_grad=True``) and its sub-layers as plain
attributes in ``__init__``; ``Module`` finds them in attribute order. There is no other base
class and no registration call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from convprop.tensor import Tensor


class Module:
    """Base of all layers: parameter discovery, train/eval mode, state dicts."""

    training: bool = True

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any) -> Tensor:
        return self.forward(*args)

    # -- structure ---------------------------------------------------------------------
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

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``("0.weight", tensor)`` pairs: every trainable tensor, in attribute order."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor) and value.requires_grad:
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # -- modes and gradients -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active); ``train(False)`` is :meth:`eval`."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the parameters in place; shapes must match, named on error."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise ValueError(
                f"state dict does not fit this {type(self).__name__} (a checkpoint of another "
                f"model?): missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        mismatched = [
            f"{n}: model {own[n].shape}, given {np.shape(state[n])}"
            for n in own
            if n in state and np.shape(state[n]) != own[n].shape
        ]
        if mismatched:
            raise ValueError(
                "shape mismatch in state dict (from another model?): " + "; ".join(mismatched)
            )
        for name, p in own.items():
            if name in state:
                np.copyto(p.data, np.asarray(state[name]), casting="same_kind")

    # -- display -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
