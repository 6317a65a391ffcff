"""Containers: Sequential (a chain of modules) and ModuleList (a list of them).

Both hold their modules as attributes named "0", "1", ..., so state-dict keys are PyTorch's
(``"0.weight"``, ``"features.3.bias"``); both take ints, negative ints and slices.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator

from convprop.nn.module import Module
from convprop.tensor import Tensor


class Sequential(Module):
    """Apply the modules in the order given, and nothing else: ``x = f_n(... f_1(z))``.

    Shape: that of its first module's input to that of its last module's output.
    """

    def __init__(self, *modules: Module) -> None:
        for m in modules:
            _append(self, m)

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, i: int | slice) -> Module:
        """The ``i``-th module; a slice gives a Sequential of the same (not copied) modules."""
        if isinstance(i, slice):
            return Sequential(*list(self)[i])
        return getattr(self, str(_index(self, i)))

    def append(self, module: Module) -> Sequential:
        _append(self, module)
        return self

    def forward(self, z: Tensor) -> Tensor:
        for m in self.children():
            z = m(z)
        return z


class ModuleList(Module):
    """A list of modules whose parameters are the model's: ``blocks.0.weight``, ...

    It has no ``forward``; the module that holds it decides how to call its items.
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self.extend(modules)

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, i: int | slice) -> Module:
        """The ``i``-th module; a slice gives a ModuleList of the same (not copied) modules."""
        if isinstance(i, slice):
            return ModuleList(list(self)[i])
        return getattr(self, str(_index(self, i)))

    def __setitem__(self, i: int, module: Module) -> None:
        _check_module(self, module, i)
        setattr(self, str(_index(self, i)), module)

    def append(self, module: Module) -> ModuleList:
        _append(self, module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            _append(self, m)
        return self


def _append(container: Sequential | ModuleList, module: Module) -> None:
    n = len(container)
    _check_module(container, module, n)
    setattr(container, str(n), module)


def _check_module(container: Module, module: object, i: int) -> None:
    if not isinstance(module, Module):
        raise TypeError(
            f"{type(container).__name__} item {i} is a {type(module).__name__}, not a Module"
        )


def _index(container: Sequential | ModuleList, i: int) -> int:
    n = len(container)
    try:
        i = operator.index(i)
    except TypeError:
        kind = type(container).__name__
        raise TypeError(f"{kind} indices are ints or slices, not {type(i).__name__}") from None
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {type(container).__name__} of {n}")
    return i % n
