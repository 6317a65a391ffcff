"""The progress bar (tqdm.auto): quiet when asked, on stderr only when it is a terminal, and
tqdm's notebook widget in Jupyter."""

from __future__ import annotations

import io
import sys

import pytest

from convprop import report
from convprop.report import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_bar(enabled: bool = True) -> ProgressBar:
    bar = ProgressBar("epoch 1/2", 20, enabled)
    for i in range(20):
        bar.update(i + 1, 0.5, 1234.0)
    bar.close()
    return bar


def test_on_a_terminal_the_bar_shows_the_label_the_count_the_loss_and_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = run_bar()
    text = sys.stderr.getvalue()
    assert bar.enabled
    assert "epoch 1/2" in text and "20/20" in text and "loss 0.5000, 1,234 img/s" in text
    assert text.endswith("\r")  # closed: the line is cleared for the epoch's summary


def test_quiet_and_non_terminal_stderr_get_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert not run_bar(enabled=False).enabled
    assert sys.stderr.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file or a pipe
    assert not run_bar().enabled
    assert sys.stderr.getvalue() == ""


def test_outside_jupyter_tqdm_auto_is_the_text_bar() -> None:
    bar_class, notebook = report.progress_bar_class()
    assert not notebook and hasattr(bar_class, "update")


def test_in_jupyter_the_widget_shows_though_stderr_is_no_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict] = []

    class Widget:
        def __init__(self, **kwargs: object) -> None:
            made.append(kwargs)
            self.n, self.postfix, self.closed = 0, "", False

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            self.postfix = text

        def update(self, n: int) -> None:
            self.n += n

        def refresh(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(report, "progress_bar_class", lambda: (Widget, True))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = ProgressBar("epoch 1/2", 20)
    widget = bar._bar
    for i in range(20):
        bar.update(i + 1, 0.25, 10.0)
    bar.close()
    assert bar.enabled and made[0]["total"] == 20 and made[0]["desc"] == "epoch 1/2"
    assert widget.n == 20 and widget.postfix == "loss 0.2500, 10 img/s" and widget.closed
