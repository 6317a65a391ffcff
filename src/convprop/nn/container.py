"""Containers: Sequential (a chain of modules), ModuleList and ModuleDict.

Sequential and ModuleList hold their modules as attributes named "0", "1", ..., so state-dict
keys are PyTorch's (``"0.weight"``, ``"features.3.bias"``); both take ints, negative ints and
slices. ModuleDict holds them under its keys (``"heads.digit.weight"``).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping

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


class ModuleDict(Module):
    """A dict of modules, in insertion order, whose parameters are the model's under their
    keys (``heads.digit.weight``), as ``torch.nn.ModuleDict``.

    It has no ``forward``; the module that holds it decides how to call its items. A key is
    a string without ``"."`` that is not already an attribute (``"keys"`` is refused).
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] = ()) -> None:
        self.update(modules)

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(vars(self).get(key), Module) if isinstance(key, str) else False

    def __getitem__(self, key: str) -> Module:
        if key not in self:
            raise KeyError(f"ModuleDict has no module {key!r}; keys: {self.keys()}")
        return getattr(self, key)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict keys are strings without '.', got {key!r}")
        if key not in self and hasattr(self, key):
            raise KeyError(f"ModuleDict key {key!r} is already an attribute; choose another")
        _check_module(self, module, key)
        setattr(self, key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 (a clear KeyError for a missing key)
        delattr(self, key)

    def keys(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def values(self) -> list[Module]:
        return list(self.children())

    def items(self) -> list[tuple[str, Module]]:
        return list(self.named_children())

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in self.keys():
            del self[key]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for i, pair in enumerate(pairs):
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update: item {i} is not a (key, module) pair")
            self[pair[0]] = pair[1]


def _append(container: Sequential | ModuleList, module: Module) -> None:
    n = len(container)
    _check_module(container, module, n)
    setattr(container, str(n), module)


def _check_module(container: Module, module: object, i: int | str) -> None:
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
