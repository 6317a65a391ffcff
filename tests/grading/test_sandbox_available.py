"""Where bubblewrap itself runs, convprop's sandbox must be made: the hostile-submission tests
(test_sandbox.py) skip without one, and this test keeps that skip from hiding a broken sandbox
(it once failed whenever Python lived under /tmp, which the sandbox covers with its own)."""

from __future__ import annotations

import subprocess

import pytest

from convprop.grading import sandbox


def test_the_sandbox_is_made_wherever_bwrap_runs():
    candidates = sandbox.find_bwrap()
    if not candidates:
        pytest.skip("no bwrap here")
    argv = [candidates[0], "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"]
    try:
        runs = subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        runs = False
    if not runs:
        pytest.skip("bwrap cannot make namespaces here (a container without user namespaces)")
    box, why = sandbox.make("auto")
    assert box is not None, why
