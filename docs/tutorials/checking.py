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
#
# (Grading with an assignment file and a gradebook is being added; this page will cover it
# when it lands.)

# %%
import csv
import io
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

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
# crash. **Loading a file runs its code**, with your permissions: check untrusted files inside
# a container or a VM.

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
# Next: the [slips `convprop check` knows](../../checking-a-layer/#the-catalogue-of-slips) and
# the [command's options](../../commands/check/).
