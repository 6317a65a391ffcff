"""convprop.transpose: arrays of any layout copied into C order give NumPy's values."""

import itertools

import numpy as np
import pytest

from convprop import transpose
from convprop.transpose import contiguous


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
def test_contiguous_from_every_permuted_layout(order, monkeypatch):
    """Every axis order of a 4-D array (batch-last among them, in blocks that do not divide
    its rows): a C-ordered copy with the same values; a C-ordered array itself."""
    monkeypatch.setattr(transpose, "TRANSPOSE_ROWS", 7)
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    memory = np.ascontiguousarray(a.transpose(order))  # a laid out in another order
    view = memory.transpose(np.argsort(order))  # a again, at those strides
    c = contiguous(view)
    assert c.flags.c_contiguous and (c is view) == (order == (0, 1, 2, 3))
    assert c is view or not np.shares_memory(c, memory)
    np.testing.assert_array_equal(c, a)


def test_contiguous_of_other_strides_is_numpys_copy():
    """A strided slice, a broadcast view and a 3-D transpose: NumPy's C-ordered copy."""
    a = np.random.default_rng(0).standard_normal((6, 5, 4))
    for src in [a[:, ::2], np.broadcast_to(a[:1], a.shape), a.transpose(2, 0, 1)]:
        c = contiguous(src)
        assert c.flags.c_contiguous
        np.testing.assert_array_equal(c, src)
    assert contiguous(a) is a
