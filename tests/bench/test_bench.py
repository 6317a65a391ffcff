"""The benchmark suite: both sides of a row do the same work, and a short run writes its report.

No timing is asserted here (times belong to ``convprop bench``); these tests check that the
numbers the suite compares are the same computation, and that the suite's plumbing works.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convprop import conv, jit  # noqa: E402
from convprop.bench import rows  # noqa: E402


@pytest.mark.parametrize("key", sorted(rows.CONV_CASES))
def test_each_conv_row_computes_what_pytorch_computes(key):
    """convprop's true convolution of the row equals PyTorch's correlation with the flipped
    kernel, for F and both adjoints, so the two times measure the same work (convprop's as
    the bench times it: F's geometry passed to both adjoints, the engines keeping work)."""
    case = rows.CONV_CASES[key]
    z, w, eps = rows._conv_data(case)
    tz = torch.tensor(z, requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(w[:, :, ::-1, ::-1]), requires_grad=True)
    out = torch.nn.functional.conv2d(tz, tw, padding=case.padding)
    out.backward(torch.tensor(eps))
    x, delta, g_w = rows.build_conv(case, "convprop")()  # what the bench times
    scale = {"x": np.abs(x).max(), "d": np.abs(delta).max(), "g": np.abs(g_w).max()}
    np.testing.assert_allclose(x, out.detach().numpy(), atol=1e-4 * scale["x"])
    np.testing.assert_allclose(delta, tz.grad.numpy(), atol=1e-4 * scale["d"])
    np.testing.assert_allclose(g_w, tw.grad.numpy()[:, :, ::-1, ::-1], atol=1e-4 * scale["g"])


def test_auto_picks_an_engine_for_every_role_of_every_row():
    for case in rows.CONV_CASES.values():
        picks = rows.auto_methods(case)
        assert set(picks) == set(rows.ROLES)
        assert set(picks.values()) <= set(rows.engines_for(case)) <= set(conv.ENGINES)
    large = "numba_tiled" if jit.available() else "fft"  # 3 channels in: tiled's loops pay
    assert set(rows.auto_methods(rows.CONV_CASES["large"]).values()) == {large}
    assert "shifted_runs" not in rows.engines_for(rows.CONV_CASES["wide"])  # one channel only


def test_a_quick_run_of_one_group_writes_a_report(tmp_path, capsys):
    from convprop.bench.suite import run_suite

    out = tmp_path / "bench.json"
    report = run_suite(out, quick=True, groups=("ops",))
    on_disk = json.loads(out.read_text())
    assert on_disk["rows"] == json.loads(json.dumps(report["rows"]))
    names = [r["name"] for r in report["rows"]]
    assert any("max-pool" in n for n in names) and any("cross-entropy" in n for n in names)
    for r in report["rows"]:
        assert r["convprop_s"] > 0 and r["torch_s"] > 0
        assert r["ratio"] == pytest.approx(r["convprop_s"] / r["torch_s"])
    assert report["info"]["matmul_peak_gflops"] > 0
    assert "ratio" in capsys.readouterr().out


def test_the_throughput_script_reports_images_per_second_and_its_split():
    from convprop.bench.throughput import _throughput

    result = _throughput(1, 1, 3)
    assert result["processes"] == 1 and result["images_per_second"] > 0
    assert result["compute_s_per_step"] > 0 and result["communicate_s_per_step"] >= 0


def test_the_engine_table_and_the_seed_limit_print_every_engine_given(capsys):
    """The report iterates over the engines the table holds (compiled ones included), marks
    auto's pick, and puts the seed layer against the larger of its two bounds."""
    from convprop.bench import report

    table = {
        "seconds": {
            "im2col": {"F": 2e-4, "G_delta": 1e-4, "G_gw": 1e-4},
            "a_compiled_engine": {"F": 1e-5, "G_delta": 1e-5, "G_gw": 2e-5},
        },
        "auto": {"F": "a_compiled_engine", "G_delta": "im2col", "G_gw": "a_compiled_engine"},
        "fastest": dict.fromkeys(rows.ROLES, "a_compiled_engine"),
        "role_gflop": rows.CONV_CASES["seed"].role_gflop,
    }
    report.print_engines({"seed": table}, peak=100.0)
    out = capsys.readouterr().out
    assert "a_compiled_engine" in out and "0.010*" in out and "0.100!" in out
    limit = report.seed_limit(table, rows.CONV_CASES["seed"], peak=100.0, bandwidth=10.0)
    assert limit["fastest_s"] == pytest.approx(4e-5)
    assert limit["auto_s"] == pytest.approx(1e-5 + 1e-4 + 2e-5)
    assert limit["memory_bound_s"] == pytest.approx(rows.CONV_CASES["seed"].gbytes / 10.0)
    assert limit["bound_s"] == max(limit["memory_bound_s"], limit["flop_bound_s"])
    report.print_seed_limit(limit, 10.0, 100.0)
    assert "the limit" in capsys.readouterr().out


def test_a_bad_out_is_refused_before_any_row_runs(tmp_path, capsys, monkeypatch):
    """--out a folder, or in a missing folder: one line, exit 2, and no row is run."""
    from convprop import cli
    from convprop.bench import suite

    monkeypatch.setattr(suite, "run_suite", lambda *a, **k: pytest.fail("a row ran"))
    assert cli.main(["bench", "--only", "ops", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    missing = tmp_path / "missing" / "bench.json"
    assert cli.main(["bench", "--only", "ops", "--out", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
