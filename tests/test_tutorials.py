"""Every tutorial of the documentation site runs as a notebook, as the site's build runs it.

The tutorials (docs/tutorials/*.py, jupytext percent format) are executed cell by cell in a
Jupyter kernel with nbclient: a cell that raises fails the test, as it fails ``make docs``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import convprop

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.py"))
SECONDS = 60  # the budget of one tutorial on 2 cores


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The kernel imports this checkout's convprop (an absolute path: it runs in tmp_path),
    with one BLAS thread, and matplotlib's backend left to the kernel (inline)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(convprop.__file__).resolve().parents[1]))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    return tmp_path


def execute(source: str, cwd: Path, fmt: str = "py:percent") -> object:
    """Run a notebook given as jupytext text in a fresh python3 kernel; the executed one."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = jupytext.reads(source, fmt=fmt)
    client = nbclient.NotebookClient(
        notebook,
        timeout=SECONDS * 3,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute()


def test_there_are_tutorials() -> None:
    assert len(TUTORIALS) >= 5, [p.name for p in TUTORIALS]


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path: Path, kernel_env: Path) -> None:
    start = time.perf_counter()
    notebook = execute(path.read_text(encoding="utf-8"), kernel_env)
    seconds = time.perf_counter() - start
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert outputs, f"{path.name} printed nothing"
    if "plt.show()" in path.read_text(encoding="utf-8"):  # its figures are shown inline
        assert any("image/png" in o.get("data", {}) for o in outputs), path.name
    assert seconds < 3 * SECONDS, f"{path.name} took {seconds:.0f} s"  # generous: shared CI


def test_a_failing_cell_fails(kernel_env: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="ZeroDivisionError"):
        execute("# %%\nx = 1\n\n# %%\n1 / 0\n", kernel_env)


@pytest.mark.slow
def test_in_jupyter_convprop_leaves_figures_inline_and_bars_quiet(kernel_env: Path) -> None:
    """convprop.plots keeps the notebook's backend, a Module displays its repr with counts,
    and a fit's progress bar writes nothing to a kernel without ipywidgets."""
    source = (
        "# %%\n"
        "import matplotlib\n"
        "import numpy as np\n"
        "from convprop import nn, plots\n"
        "from convprop.report import ProgressBar\n"
        "plots.pyplot()\n"
        "print(matplotlib.get_backend())\n"
        "bar = ProgressBar('epoch 1/1', 3)\n"
        "bar.update(3, 0.5, 10.0)\n"
        "bar.close()\n"
        "\n"
        "# %%\n"
        "nn.Sequential(nn.Linear(2, 3, rng=np.random.default_rng(0)), nn.ReLU())\n"
    )
    notebook = execute(source, kernel_env)
    first, second = notebook.cells[0].outputs, notebook.cells[1].outputs
    printed = "".join(o.get("text", "") for o in first if o.output_type == "stream")
    assert "inline" in printed.lower(), printed
    try:
        import ipywidgets  # noqa: F401
    except ImportError:  # no widget: the kernel's stderr is no terminal, so no bar
        assert not [o for o in first if o.get("name") == "stderr"], first
    shown = second[0]["data"]["text/plain"]
    assert shown.endswith(")  # 9 parameters in total"), shown
