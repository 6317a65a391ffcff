"""convprop.transpose: permuted arrays copied into C order give NumPy's values."""

import itertools

import numpy as np
import pytest

from convprop.transpose import contiguous, copy_into


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
def test_copy_into_c_order_from_every_permuted_layout(order):
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    memory = np.ascontiguousarray(a.transpose(order))  # a laid out in another order
    view = memory.transpose(np.argsort(order))  # a again, at those strides
    out = np.empty(a.shape, a.dtype)
    copy_into(out, view)
    np.testing.assert_array_equal(out, a)
    c = contiguous(view)
    assert c.flags.c_contiguous and (c is view) == (order == (0, 1, 2, 3))
    np.testing.assert_array_equal(c, a)


def test_copy_into_other_layouts_and_casts_as_copyto():
    """Into a destination that is not C-ordered, and from a strided slice, a broadcast view
    and another dtype: the values of ``np.copyto``."""
    r = np.random.default_rng(0)
    a = r.standard_normal((6, 5, 4))
    for src in [a[:, ::2], np.broadcast_to(a[:1], a.shape), a.transpose(2, 0, 1).T]:
        for out in [np.empty(src.shape, np.float32), np.empty(src.shape[::-1]).T]:
            want = np.empty_like(out)
            np.copyto(want, src)
            copy_into(out, src)
            np.testing.assert_array_equal(out, want)
    assert contiguous(a) is a
