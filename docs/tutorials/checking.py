# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Checking back-propagation code: `gradcheck`, `adjoint_test` and `convprop check`
#
# Back-propagation code fails quietly: a gradient with a flipped kernel or a dropped offset
# still has the right shape, and a network trained with it still moves, just not downhill.
# Three tools catch such slips:
#
# 1. `convprop.check.adjoint_test(F, G, ...)`: is `G` the transpose of the linear `F`?
# 2. `convprop.check.gradcheck(fn, *inputs)`: does `backward()` agree with central
#    differences?
# 3. `convprop check FILE.py`: a whole student file checked against the verified layer, with
#    the slip named and a one-line fix; `--batch DIR` checks a folder of them into a CSV.
# 4. `convprop grade DIR --assignment A.toml --out OUT`: a class graded against an assignment
#    file, into a gradebook and one feedback file per student.

# %%
# %matplotlib inline
import csv
import io
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.signal import convolve2d, correlate2d

import convprop as cp
from convprop.check import adjoint_test, gradcheck

# %% [markdown]
# ## The dot-product test on your own functions
#
# A student writes `F` and a `G_delta` for the seed's layer. Without any derivative, the
# identity `<F(z), eps> = <z, G_delta(eps)>` tells whether `G_delta` is its adjoint; here
# `G_delta` forgot to pad `eps`, the seed's own Q2.4 slip.

# %%
w = np.random.default_rng(0).standard_normal((3, 3))


def F(z):
    return convolve2d(z, w, mode="valid")  # (128, 128) -> (126, 126)


def G_delta_right(eps):
    return correlate2d(np.pad(eps, 2), w, mode="valid")  # pad by k - 1 = 2, then correlate


def G_delta_slip(eps):
    return correlate2d(np.pad(eps, ((0, 4), (0, 4))), w, mode="valid")  # read from index 0


print(adjoint_test(F, G_delta_right, (128, 128), (126, 126)))
print(adjoint_test(F, G_delta_slip, (128, 128), (126, 126)))

# %% [markdown]
# ## `gradcheck`: autodiff against central differences
#
# For code built from convprop's ops, `gradcheck` perturbs each input entry by `+-h` in
# float64 and compares `(<fn(z + h e_i), eps> - <fn(z - h e_i), eps>) / 2h` with what
# `backward()` gave. Use small inputs: it evaluates `fn` twice per entry.

# %%
rng = np.random.default_rng(1)
z = cp.tensor(rng.standard_normal((1, 1, 6, 6)), requires_grad=True, dtype=np.float64)
k = cp.tensor(rng.standard_normal((1, 1, 3, 3)), requires_grad=True, dtype=np.float64)
print(gradcheck(lambda a, b: cp.ops.conv2d(a, b).tanh(), z, k))

# %% [markdown]
# ## `convprop check`: a student's file, diagnosed
#
# A file defines `F(z, w)` and `G(eps, z, w) -> (delta, g_w)` (or `G_delta` and `G_gw`). The
# checker imports it in a separate process with a time limit, calls it on random float64
# arrays of the seed's sizes, compares every output with the verified functions, and names the
# slip. Here is the seed's written solution, Q2.3 to Q2.5, typed in:

# %%
folder = Path(tempfile.mkdtemp())
(folder / "seed_solution.py").write_text(
    textwrap.dedent(
        """
        import numpy as np

        def F(z, w):  # Q2.3: x(j) = sum_k w(k) z(j + 2 - k)
            x = np.zeros((z.shape[0] - 2, z.shape[1] - 2))
            for k1 in range(3):
                for k2 in range(3):
                    x += w[k1, k2] * z[2 - k1 : 2 - k1 + x.shape[0], 2 - k2 : 2 - k2 + x.shape[1]]
            return x

        def G_delta(eps, w):  # Q2.4: delta(j) = sum_k w(k) eps(j + k), eps zero outside
            padded = np.pad(eps, ((0, 4), (0, 4)))
            delta = np.zeros((eps.shape[0] + 2, eps.shape[1] + 2))
            for k1 in range(3):
                for k2 in range(3):
                    delta += w[k1, k2] * padded[k1 : k1 + delta.shape[0], k2 : k2 + delta.shape[1]]
            return delta

        def G_gw(eps, z):  # Q2.5: g_w(j) = sum_k eps(k) z(j + k)
            n1, n2 = eps.shape
            rows = [[eps * z[j1 : j1 + n1, j2 : j2 + n2] for j2 in range(3)] for j1 in range(3)]
            return np.array([[np.sum(p) for p in row] for row in rows])
        """
    )
)


def convprop_command(*args):
    """Run `convprop ARGS` in `folder`, as a shell would (through this kernel's Python)."""
    env = {**os.environ, "PYTHONPATH": str(Path(cp.__file__).parents[1])}  # this convprop
    done = subprocess.run(
        [sys.executable, "-m", "convprop", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
    )
    print(done.stdout + done.stderr, f"(exit status {done.returncode})", sep="")
    return done


convprop_command("check", folder / "seed_solution.py")
# %% [markdown]
# Each finding has a stable code, the part it concerns, the largest error, the first wrong
# index and a fix. It also says whether each half of G is at least the adjoint of the
# student's *own* F, which separates "wrong convolution, consistent gradient" from "wrong
# gradient". The exit status is 0 only when everything is right.
#
# The same report from Python, for a notebook or a grading script:

# %%
from convprop.grading import diagnose_conv  # noqa: E402

namespace: dict = {}
exec((folder / "seed_solution.py").read_text(), namespace)  # our own file: trusted
report = diagnose_conv(namespace["F"], G_delta=namespace["G_delta"], G_gw=namespace["G_gw"])
print("ok:", report.ok)
for finding in report.findings:
    print(f"{finding.severity:8} {finding.part:8} {finding.code}")

# %% [markdown]
# ## A folder of submissions
#
# `--batch DIR` checks every `.py` file in a folder, one CSV row per file: a first gradebook.
# Here a correct file, the seed's, one that loops forever and one that does not import. Code
# that raises, hangs past `--timeout`, exits or prints megabytes becomes a finding, not a
# crash. **Loading a file runs its code**: `convprop check` runs it in a child process under
# a bubblewrap sandbox (no network, a read-only system, a private `/tmp`) where one can be
# made; `--sandbox auto`, the default, goes on without one (and says so) where it cannot.

# %%
(folder / "correct.py").write_text(
    textwrap.dedent(
        """
        import numpy as np
        from scipy.signal import convolve2d, correlate2d

        def F(z, w):
            return convolve2d(z, w, mode="valid")

        def G(eps, z, w):
            k1, k2 = w.shape
            delta = correlate2d(np.pad(eps, ((k1 - 1, k1 - 1), (k2 - 1, k2 - 1))), w, "valid")
            g_w = correlate2d(z, eps, mode="valid")[::-1, ::-1]
            return delta, g_w
        """
    )
)
(folder / "loops.py").write_text("def F(z, w):\n    while True:\n        pass\n")
(folder / "broken.py").write_text("import numpy as np\ndef F(z, w) return z\n")

done = convprop_command("check", "--batch", ".", "--timeout", "2")

# %% [markdown]
# The CSV, read back: one row per file, with the finding codes.

# %%
for row in csv.DictReader(io.StringIO(done.stdout)):
    print(f"{row['file']:18} ok={row['ok']:5}  {row['codes']}")

# %% [markdown]
# ## Grading a class: an assignment file and a gradebook
#
# `convprop grade` judges many layers, in the seed's calling convention or in CS231n's
# (`conv_forward_naive(x, w, b, conv_param) -> (out, cache)`, `conv_backward_naive(dout,
# cache) -> (dx, dw, db)`, `softmax_loss(x, y) -> (loss, dx)`, ...). An assignment file, in
# TOML, lists the questions: each a layer, a convention, the points of each part and one or
# more settings (shapes, stride, padding) on which it is judged. **A part earns its points only
# when it is right in every setting.** Here, a CS231n conv layer with a bias, judged with
# padding 1 and with padding 0 and stride 2, and a softmax loss at logits of size 1 and 1000:

# %%
assignment = folder / "assignment.toml"
assignment.write_text(
    textwrap.dedent(
        """
        [assignment]
        name = "tutorial-backprop"
        seed = 0

        [[question]]
        id = "conv"
        layer = "conv2d"
        convention = "cs231n"      # conv_forward_naive, conv_backward_naive
        kind = "correlation"
        bias = true
        points = { forward = 2, dx = 3, dw = 3, db = 1 }

        [[question.setting]]
        input_shape = [2, 3, 6, 6]
        kernel_shape = [4, 3, 3, 3]
        stride = 1
        padding = 1

        [[question.setting]]
        input_shape = [2, 3, 7, 7]
        kernel_shape = [4, 3, 3, 3]
        stride = 2
        padding = 0

        [[question]]
        id = "softmax"
        layer = "softmax_cross_entropy"
        convention = "cs231n"      # softmax_loss
        points = { loss = 2, dx = 2 }

        [[question.setting]]
        shape = [8, 5]
        scale = 1.0

        [[question.setting]]
        shape = [8, 5]
        scale = 1000.0
        """
    )
)

# %% [markdown]
# Three students. Alice is right. Bob crops the padding off `dx` with `dxp[:, :, p:-p, p:-p]`,
# which is right for `p = 1` and empty for `p = 0`. Carol's softmax does not subtract the
# largest logit first, so `exp` overflows at logits of size 1000.

# %%
CONV = """
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    kh, kw = w.shape[2:]
    ho, wo = (xp.shape[2] - kh) // s + 1, (xp.shape[3] - kw) // s + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    kh, kw = w.shape[2:]
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]
            dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))
            dxp[:, :, i * s : i * s + kh, j * s : j * s + kw] += np.tensordot(
                dout[:, :, i, j], w, axes=([1], [0])
            )
    dx = CROP
    return dx, dw, dout.sum(axis=(0, 2, 3))
"""
SOFTMAX = """

def softmax_loss(x, y):
    shifted = SHIFT
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -np.mean(log_probs[np.arange(n), y])
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n
"""
right_crop = "dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]]"
right_shift = "x - x.max(axis=1, keepdims=True)"
students = {
    "alice": (right_crop, right_shift),
    "bob": ("dxp[:, :, p:-p, p:-p]", right_shift),
    "carol": (right_crop, "x"),
}
submissions = folder / "class"
submissions.mkdir()
for name, (crop, shift) in students.items():
    code = CONV.replace("CROP", crop) + SOFTMAX.replace("SHIFT", shift)
    (submissions / f"{name}.py").write_text(code)
print(sorted(p.name for p in submissions.iterdir()))

# %% [markdown]
# Grade them. `--sandbox auto` runs each file under bubblewrap where it can (the `grade` extra
# ships it) and otherwise says why and goes on; `--sandbox on` would refuse instead.

# %%
done = convprop_command(
    "grade", "class", "--assignment", "assignment.toml", "--out", "graded", "--sandbox", "auto"
)

# %% [markdown]
# `graded/gradebook.csv` has a row per student and a column per part, ready for a
# spreadsheet; `graded/results.json` holds everything for other tools.

# %%
graded = folder / "graded"
print((graded / "gradebook.csv").read_text())

with open(graded / "gradebook.csv", newline="") as file:
    rows = list(csv.DictReader(file))
parts = [column for column in rows[0] if column not in ("submission", "total")]
fig, ax = plt.subplots(figsize=(6, 2.2))
left = np.zeros(len(rows))
for part in parts:
    points = np.array([float(row[part]) for row in rows])
    ax.barh([row["submission"] for row in rows], points, left=left, label=part)
    left += points
ax.set_xlabel("points")
ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.invert_yaxis()
plt.show()

# %% [markdown]
# Each student gets `graded/feedback/NAME.md`: the points of every part, then what was wrong,
# in which setting, and how to fix it. Bob's:

# %%
print((graded / "feedback" / "bob.md").read_text())

# %% [markdown]
# Next: the [slips `convprop check` knows](../../checking-a-layer/#the-catalogue-of-slips),
# [the assignment file's keys and the sandbox](../../grading/), and the options of
# [`check`](../../commands/check/) and [`grade`](../../commands/grade/).
