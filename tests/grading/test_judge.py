"""judge(): its arguments, the parts it returns, failures, kept caches, time limits."""

from __future__ import annotations

import numpy as np
import pytest

from convprop.grading import Submission
from convprop.grading.layers import judge
from convprop.grading.layers.common import BASE_SECONDS, default_timeout
from convprop.grading.layers.conv2d import work
from tests.grading.submissions.gallery import GALLERY, SMALL
from tests.grading.submissions.layer_sources import ADAPTERS, CONV_LOOPS, CONV_VECTORISED

CONV = {"input_shape": [2, 3, 7, 9], "kernel_shape": [4, 3, 3, 3], "stride": 2, "padding": 1}


def _sub(tmp_path, text, **kwargs):
    path = tmp_path / "mine.py"
    path.write_text(text)
    return Submission(path, **kwargs)


def _cs231n_conv(core=CONV_VECTORISED):
    return core + ADAPTERS["conv2d"]["cs231n"]


@pytest.mark.parametrize(
    ("layer", "setting", "options", "message"),
    [
        ("conv2d", {**CONV, "strides": 2}, {}, "unknown setting key 'strides'"),
        ("conv2d", {"input_shape": [2, 3, 7, 9]}, {}, "needs the key 'kernel_shape'"),
        ("conv2d", {**CONV, "stride": 0}, {}, "stride must be an int >= 1"),
        ("conv2d", {**CONV, "kernel_shape": [4, 2, 3, 3]}, {}, "do not fit"),
        ("conv2d", CONV, {"kind": "fft"}, "kind must be convolution or correlation"),
        ("conv2d", CONV, {"colour": 1}, "unknown option 'colour'"),
        ("linear", {"input_shape": [4, 6]}, {}, "needs the key 'out_features'"),
        ("max_pool2d", {"input_shape": [1, 1, 2, 2], "kernel_size": 3}, {}, "larger than"),
        ("softmax_cross_entropy", {"shape": [4]}, {}, "shape must be 2 positive ints"),
        ("sgd_momentum", {"shape": [3], "steps": -1}, {}, "steps must be an int >= 1"),
        ("lstm", {}, {}, "unknown layer 'lstm'"),
    ],
)
def test_bad_settings_and_options_raise_one_line_naming_the_key(
    tmp_path, layer, setting, options, message
):
    with _sub(tmp_path, _cs231n_conv()) as sub, pytest.raises(ValueError, match=message):
        judge(sub, layer, "cs231n", setting, options)
    with _sub(tmp_path, _cs231n_conv()) as sub, pytest.raises(ValueError, match="convention"):
        judge(sub, "conv2d", "caffe", CONV, {})


def test_db_is_judged_only_with_a_bias(tmp_path):
    with _sub(tmp_path, _cs231n_conv()) as sub:
        assert list(judge(sub, "conv2d", "cs231n", CONV, {})) == ["forward", "dx", "dw", "db"]
        # without a bias the file is called with b = 0 and db is not judged
        result = judge(sub, "conv2d", "cs231n", CONV, {"bias": False})
    assert list(result) == ["forward", "dx", "dw"] and all(r.ok for r in result.values())


def test_a_missing_function_fails_its_parts(tmp_path):
    with _sub(tmp_path, CONV_VECTORISED) as sub:
        result = judge(sub, "conv2d", "cs231n", CONV, {})
    assert {p: r.ok for p, r in result.items()} == dict.fromkeys(result, False)
    assert {r.findings[0].code for r in result.values()} == {"missing_function", "not_run"}
    assert "conv_forward_naive" in result["forward"].findings[0].message


def test_an_error_points_at_the_students_file_and_line(tmp_path):
    text = _cs231n_conv().replace("    Ho, Wo = dout.shape[2:]\n", "    Ho, Wo = dout.shape[5:]\n")
    line = text.splitlines().index("    Ho, Wo = dout.shape[5:]") + 1
    with _sub(tmp_path, text) as sub:
        result = judge(sub, "conv2d", "cs231n", CONV, {})
    assert result["forward"].ok
    for part in ("dx", "dw", "db"):
        finding = result[part].findings[0]
        assert finding.code == "raises"
        assert f"(mine.py line {line} in conv_back)" in finding.message


def test_a_cache_of_any_kind_stays_in_the_child(tmp_path):
    text = (
        CONV_LOOPS
        + """
class Cache:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    return conv_out(x, w, b, s, p), Cache(back=lambda dout: conv_back(dout, x, w, s, p))


def conv_backward_naive(dout, cache):
    return cache.back(dout)
"""
    )
    with _sub(tmp_path, text) as sub:
        result = judge(sub, "conv2d", "cs231n", CONV, {})
    assert all(r.ok for r in result.values())


def test_a_forward_that_spins_is_stopped_and_the_backward_not_run(tmp_path):
    text = _cs231n_conv() + "\n\ndef conv_out(x, w, b, s, p):\n    while True:\n        pass\n"
    with _sub(tmp_path, text) as sub:
        result = judge(sub, "conv2d", "cs231n", CONV, {"timeout": 1.0})
    assert result["forward"].findings[0].code == "timeout"
    assert [result[p].findings[0].code for p in ("dx", "dw", "db")] == ["not_run"] * 3


def test_the_default_time_limit_scales_with_the_work():
    assert default_timeout(0) == BASE_SECONDS  # a spin in a small problem: stopped in 10 s
    big = work((16, 3, 64, 64), (8, 3, 3, 3), {"padding": 1})
    assert big == 2 * 16 * 8 * 64 * 64 * 27
    # a plain Python loop takes about 1 us per multiply-add: the limit leaves 5x that
    assert default_timeout(big) > BASE_SECONDS + 5 * big * 1e-6 - 1e-9


def test_the_seeds_geometry_gets_the_whole_catalogue(tmp_path):
    source, options, _ = GALLERY["forward_correlation"]
    with _sub(tmp_path, source) as sub:
        result = judge(sub, "conv2d", "seed", {k: list(v) for k, v in options.items()}, {})
    assert {p: r.ok for p, r in result.items()} == {"forward": False, "dx": True, "dw": True}
    assert result["forward"].findings[0].code == "forward_is_correlation"


def test_a_file_that_does_not_import_fails_every_part(tmp_path):
    with _sub(tmp_path, "def conv_forward_naive(:\n") as sub:
        result = judge(sub, "conv2d", "cs231n", CONV, {})
    assert [r.findings[0].code for r in result.values()] == ["import_error"] * 4
    with _sub(tmp_path, "def F(:\n") as sub:
        result = judge(sub, "conv2d", "seed", {k: list(v) for k, v in SMALL.items()}, {})
    assert [r.findings[0].code for r in result.values()] == ["import_error"] * 3


def test_invoke_passes_dicts_tuples_and_handles_and_checks_the_form(tmp_path):
    text = (
        "import numpy as np\n\n"
        "def keep(a, opts, pair):\n    return a * opts['k'], {'a': a, 'pair': pair}, 2.5\n\n"
        "def use(state):\n    return state['a'] + sum(state['pair'])\n"
    )
    with _sub(tmp_path, text) as sub:
        a = np.arange(3.0)
        out = sub.invoke(
            "keep",
            a,
            {"k": 2},
            (1, 2),
            returns=[["y", "array"], ["s", "any"], ["n", "number"]],
            single=False,
        )
        assert out.failure == "" and out.note == ""
        y, state, n = out.arrays
        assert np.array_equal(y, 2 * a) and float(n) == 2.5
        back = sub.invoke("use", state, returns=[["v", "array"]])
        assert np.array_equal(back.arrays[0], a + 3)
        short = sub.invoke("keep", a, {"k": 1}, (0,), returns=[["y", "array"]] * 2, single=False)
        assert short.failure == "wrong_type" and "not a tuple (y, y)" in short.message


@pytest.mark.slow
def test_a_loop_implementation_at_16x3x64x64_passes_in_the_default_time(tmp_path):
    setting = {"input_shape": [16, 3, 64, 64], "kernel_shape": [8, 3, 3, 3], "padding": 1}
    with _sub(tmp_path, _cs231n_conv(CONV_LOOPS)) as sub:
        result = judge(sub, "conv2d", "cs231n", setting, {})
    assert all(r.ok for r in result.values())


def test_the_seed_convention_in_2d_with_a_stride_and_padding(tmp_path):
    text = (
        "from convprop import conv\n\n\n"
        "def F(z, w, stride=1, padding=0):\n"
        "    return conv.conv2d(z, w, stride=stride, padding=padding)\n\n\n"
        "def G(eps, z, w, stride=1, padding=0):\n"
        "    o = {'stride': stride, 'padding': padding}\n"
        "    return (conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, **o),\n"
        "            conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **o)[::-1, ::-1])\n"
    )
    setting = {"input_shape": [9, 11], "kernel_shape": [3, 3], "stride": 2, "padding": 1}
    with _sub(tmp_path, text) as sub:
        result = judge(sub, "conv2d", "seed", setting, {})
    assert {p: r.ok for p, r in result.items()} == {"forward": True, "dx": True, "dw": False}
    assert result["dw"].findings[0].code == "gw_flipped"
