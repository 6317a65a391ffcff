"""Notebooks: code cells in order, IPython lines left out, a raising cell named and the
functions before it still served."""

from __future__ import annotations

import json

import numpy as np

from convprop.grading import Submission
from convprop.grading._worker import describe_exception, notebook_cells
from tests.grading.grade_gallery import notebook


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_code_cells_in_order_with_magics_and_shell_lines_left_out(tmp_path):
    cells = [
        {"cell_type": "markdown", "source": "# title\n"},
        {"cell_type": "code", "source": "%matplotlib inline\nimport numpy as np\n  !ls\n"},
        {"cell_type": "code", "source": ["%%bash\n", "echo hi\n"]},
        {"cell_type": "code", "source": ["def f(x):\n", "    return x\n"]},  # as Jupyter writes
    ]
    path = _write(tmp_path, "nb.ipynb", json.dumps({"cells": cells, "nbformat": 4}))
    cells = notebook_cells(str(path))
    assert [n for n, _ in cells] == [2, 4]  # cell 1 is markdown, cell 3 a %% magic
    assert cells[0][1] == "\nimport numpy as np\n\n"  # line numbers kept
    assert cells[1][1] == "def f(x):\n    return x\n"


def test_a_raising_cell_is_named_and_the_functions_before_it_are_graded(tmp_path):
    path = _write(
        tmp_path,
        "nb.ipynb",
        notebook(
            "import numpy as np\n\ndef twice(x):\n    return 2 * x\n",
            "x = 1\ny = undefined_name\n",
            "def later(x):\n    return x\n",
        ),
    )
    with Submission(path) as sub:
        opened = sub.open()
        assert opened.failure == ""
        assert opened.note.startswith("cell 3 failed: NameError: name 'undefined_name'")
        assert "cell 3, line 2 in <module>)" in opened.note
        assert sub.names == ["twice"]
        assert np.array_equal(sub.call("twice", np.ones(2)).arrays[0], [2.0, 2.0])


def test_errors_in_a_notebooks_functions_and_syntax_name_the_cell(tmp_path):
    path = _write(
        tmp_path,
        "nb.ipynb",
        notebook("import numpy as np\n", "def bad(x):\n    return x / zero\n", "def (:\n"),
    )
    with Submission(path) as sub:
        assert "cell 4 failed: SyntaxError" in sub.open().note
        assert "cell 4, line 1)" in sub.open().note
        out = sub.call("bad", np.ones(2))
        assert out.failure == "raises" and "cell 3, line 2 in bad)" in out.message


def test_not_a_notebook_is_an_import_error(tmp_path):
    for text in ("{not json", json.dumps({"worksheets": []})):
        with Submission(_write(tmp_path, "nb.ipynb", text)) as sub:
            assert sub.open().failure == "import_error"


def test_describe_exception_still_names_plain_files():
    try:
        exec(compile("1 / 0\n", "/x/mine.py", "exec"), {})
    except ZeroDivisionError as error:
        assert describe_exception(error, "/x/mine.py").endswith("line 1 in <module>)")
