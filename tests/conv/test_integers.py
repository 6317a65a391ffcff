"""Integer arrays: convolved exactly in float64 with an int64 result, refused past 2**53."""

import numpy as np
import pytest
import scipy.signal

from convprop.conv import (
    conv2d,
    conv2d_adjoint_input,
    conv2d_adjoint_weight,
    conv2d_backward,
)


def test_integers_beyond_float32_are_exact():
    x = conv2d(np.array([[16777217]], dtype=np.int64), np.array([[1]]))
    assert x.dtype == np.int64 and x[0, 0] == 16777217  # float32 gives 16777216


def test_small_integer_results_are_exact_integers():
    r = np.random.default_rng(0)
    z, w = r.integers(-9, 10, (2, 3, 12, 12)), r.integers(-9, 10, (4, 3, 3, 3))
    b = r.integers(-5, 6, 4)
    for method in ("auto", "direct", "im2col", "batch_last"):
        x = conv2d(z, w, b, padding=1, method=method)
        expected = np.array(
            [
                [
                    sum(
                        scipy.signal.convolve2d(np.pad(z[n, c], 1), w[o, c], "valid")
                        for c in range(3)
                    )
                    + b[o]
                    for o in range(4)
                ]
                for n in range(2)
            ]
        )
        assert x.dtype == np.int64
        np.testing.assert_array_equal(x, expected)  # not 61.999996
    eps = r.integers(-9, 10, (2, 4, 12, 12))
    delta, g_w = conv2d_backward(eps, z, w, padding=1)
    assert delta.dtype == g_w.dtype == np.int64
    f64 = conv2d_backward(eps.astype(float), z.astype(float), w.astype(float), padding=1)
    np.testing.assert_array_equal(delta, f64[0])
    np.testing.assert_array_equal(g_w, f64[1])
    g_w, g_b = conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, padding=1, with_bias=True)
    assert g_b.dtype == np.int64 and (g_b == eps.sum(axis=(0, 2, 3))).all()


def test_large_kernels_on_integers_avoid_fft():
    r = np.random.default_rng(1)
    z, w = r.integers(0, 1000, (1, 1, 40, 40)), r.integers(0, 1000, (1, 1, 9, 9))
    x = conv2d(z, w)  # auto would pick fft for floats
    assert x.dtype == np.int64
    np.testing.assert_array_equal(x[0, 0], scipy.signal.convolve2d(z[0, 0], w[0, 0], "valid"))
    with pytest.raises(ValueError, match="method 'fft' is not exact on integer arrays"):
        conv2d(z, w, method="fft")


def test_integer_sums_past_2_53_are_refused():
    big = np.full((1, 1, 4, 4), 2**26, dtype=np.int64)
    kernel = np.full((1, 1, 3, 3), 2**26, dtype=np.int64)  # 9 * 2**52 >= 2**53
    with pytest.raises(ValueError, match=r"integer convolution not exact: .* >= 2\*\*53"):
        conv2d(big, kernel)
    with pytest.raises(ValueError, match=r"integer G_delta not exact"):
        conv2d_adjoint_input(np.full((1, 1, 2, 2), 2**26), kernel, input_shape=(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"integer G_gw not exact"):
        conv2d_adjoint_weight(np.full((1, 1, 2, 2), 2**26), big, kernel_shape=(3, 3))
    with pytest.raises(ValueError, match="integer convolution not exact"):
        conv2d(np.array([[2**53 + 1]]), np.array([[0]]))  # not even representable
    small = np.full((1, 1, 2, 2), 2**24 - 1, dtype=np.int64)  # 4 (2**50 - 2**26) < 2**53
    assert conv2d(big, small)[0, 0, 0, 0] == 4 * 2**26 * (2**24 - 1)  # just below: exact


def test_mixed_integer_and_float_inputs_take_the_float_dtype():
    z32 = np.ones((5, 5), np.float32)
    assert conv2d(z32, np.ones((2, 2), dtype=np.int64)).dtype == np.float32
    assert conv2d(np.ones((5, 5), np.int64), np.ones((2, 2))).dtype == np.float64
    x = conv2d(np.ones((1, 1, 3, 3), np.int64), np.ones((1, 1, 2, 2), np.int64), np.array([0.5]))
    assert x.dtype == np.float64 and (x == 4.5).all()  # a float bias: a float result


def test_3x3_layers_of_many_channels_on_integers_avoid_winograd():
    """auto picks Winograd for floats here; its products by 1/6 and 1/24 would round."""
    r = np.random.default_rng(2)
    z, w = r.integers(-3, 4, (2, 64, 8, 8)), r.integers(-3, 4, (64, 64, 3, 3))
    x = conv2d(z, w, padding=1)
    assert x.dtype == np.int64
    f64 = conv2d(z.astype(float), w.astype(float), padding=1, method="im2col")
    np.testing.assert_array_equal(x, f64)
    eps = r.integers(-3, 4, x.shape)
    delta, g_w = conv2d_backward(eps, z, w, padding=1)
    floats = (eps.astype(float), z.astype(float), w.astype(float))
    ref = conv2d_backward(*floats, padding=1, method="im2col")
    np.testing.assert_array_equal(delta, ref[0])
    np.testing.assert_array_equal(g_w, ref[1])
    for method in ("winograd", "numba_winograd"):
        with pytest.raises(ValueError, match=f"method '{method}' is not exact on integer"):
            conv2d_adjoint_input(eps, w, padding=1, method=method)
