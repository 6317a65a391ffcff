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
# # Your own data and model, and moving weights to and from PyTorch
#
# convprop's layers take PyTorch's arguments, so a model is written the way it would be in
# PyTorch: subclass `nn.Module`, set layers as attributes in `__init__`, write `forward`.
# This notebook builds a small residual network of its own, trains it on NumPy arrays of its
# own, then trains a model file of its own on a folder of PNG images it writes, through
# `convprop train --dataset folder --model FILE.py:build`, and moves weights out as NumPy
# dicts, `.safetensors` files and PyTorch state dicts, and back. (PyTorch itself is not needed
# here; the last section shows the two lines that use it.)

# %%
# %matplotlib inline
import csv
import json
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from scipy.signal import correlate2d

from convprop import Tensor, nn, optim
from convprop.cli import main as convprop
from convprop.data import ArrayDataset, DataLoader
from convprop.io import from_torch, load_safetensors, save_safetensors, to_torch

# %% [markdown]
# ## Data of your own
#
# Any pair of aligned arrays is a data set: `ArrayDataset(images, labels)` with images float32
# `(N, C, H, W)` and labels int64 `(N,)`. Here, 12x12 images of three shapes (a horizontal
# bar, a vertical bar, a cross) at random places, with noise.

# %%
rng = np.random.default_rng(0)


def shapes(n):
    images = 0.3 * rng.standard_normal((n, 1, 12, 12)).astype(np.float32)
    labels = rng.integers(0, 3, n)
    for image, label in zip(images, labels, strict=True):
        r, c = rng.integers(2, 10, 2)
        if label in (0, 2):
            image[0, r, c - 2 : c + 3] += 1.0  # a horizontal bar
        if label in (1, 2):
            image[0, r - 2 : r + 3, c] += 1.0  # a vertical bar
    return ArrayDataset(images, labels.astype(np.int64))


train_set, test_set = shapes(600), shapes(200)
fig, axes = plt.subplots(1, 6, figsize=(7, 1.4))
for ax, image, label in zip(axes, train_set.images, train_set.labels, strict=False):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(["horizontal", "vertical", "cross"][label], fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## A model of your own
#
# A residual block adds its input to the output of two convolutions (`padding=1` keeps the
# size), so the block only has to learn a correction. Parameters and sub-layers are found
# from the attributes; the repr lists them with their parameter counts.


# %%
class Residual(nn.Module):
    """x = relu(z + conv(relu(conv(z)))). Shape: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels, rng):
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, rng=rng)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, rng=rng)
        self.relu = nn.ReLU()

    def forward(self, z):
        return self.relu(z + self.conv2(self.relu(self.conv1(z))))


class SmallResNet(nn.Module):
    """Stem, two residual blocks, global average pooling, a classifier."""

    def __init__(self, num_classes=3, width=8, seed=0):
        rng = np.random.default_rng(seed)
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, rng=rng), nn.ReLU())
        self.blocks = nn.Sequential(Residual(width, rng), nn.MaxPool2d(2), Residual(width, rng))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, num_classes, rng=rng)

    def forward(self, z):
        features = self.pool(self.blocks(self.stem(z)))  # (N, width, 1, 1)
        return self.head(features.reshape(features.shape[0], -1))


model = SmallResNet()
print(model)

# %% [markdown]
# ## Training it
#
# The loop of the [training tutorial](../training/), with Adam.

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = optim.Adam(model.parameters(), lr=0.01)
loader = DataLoader(train_set, batch_size=32, seed=0)
for epoch in range(6):
    for x, y in loader:
        loss = loss_fn(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    predicted = np.argmax(model(Tensor(test_set.images)).numpy(), axis=1)
    model.train()
    accuracy = np.mean(predicted == test_set.labels)
    print(f"epoch {epoch + 1}: last batch's loss {float(loss.numpy()):.3f}, test {accuracy:.1%}")

# %% [markdown]
# ## Your own images: a folder of PNGs, through the command line
#
# `convprop train --dataset folder --data-dir D` reads torchvision's layout: `D/train/CLASS/`
# and `D/test/CLASS/`, one folder of images per class (PNG, JPEG or BMP, decoded by Pillow,
# the `images` extra). Here the same three shapes, written as 12x12 grayscale PNGs into a
# temporary folder:

# %%
images = Path(tempfile.mkdtemp()) / "shapes"
names = ["horizontal", "vertical", "cross"]
for split, n in (("train", 240), ("test", 60)):
    data = shapes(n)
    for index, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        pixels = np.clip(128 + 100 * image[0], 0, 255).astype(np.uint8)
        (images / split / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(images / split / names[label] / f"{index}.png")
print(sorted(str(p.relative_to(images)) for p in images.glob("*/*")))
print(len(list(images.glob("train/*/*.png"))), "training images,", end=" ")
print(len(list(images.glob("test/*/*.png"))), "test images")

# %% [markdown]
# The model, in a file of its own: `--model FILE.py:build` calls `build` with the arguments
# it names among `in_channels`, `num_classes`, `image_size` and `rng` (seeded by `--seed`),
# and the checkpoint records the file and its SHA-256, so that `convprop evaluate` and
# `--resume` can rebuild the model.

# %%
model_file = images.parent / "shapes_net.py"
model_file.write_text(
    textwrap.dedent(
        """
        from convprop import nn


        def build(in_channels, num_classes, image_size, rng):
            h, w = image_size
            return nn.Sequential(
                nn.Conv2d(in_channels, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(8 * (h // 2) * (w // 2), num_classes, rng=rng),
            )
        """
    )
)

# %% [markdown]
# Train it with a random crop (pad by 2, cut back to 12x12) and a horizontal flip drawn for
# each batch (neither changes which shape an image shows), and each channel standardised by
# the training set's mean and std. `convprop.cli.main` takes the command line as a list,
# exactly as the shell would pass it, and returns the exit status.

# %%
run = images.parent / "run"
status = convprop(
    [
        "train", "--dataset", "folder", "--data-dir", str(images),
        "--model", f"{model_file}:build", "--augment", "crop=2,hflip", "--normalize",
        "--epochs", "8", "--batch-size", "32", "--lr", "0.05", "--out", str(run),
    ]
)  # fmt: skip
print("exit status", status)

# %% [markdown]
# The run's `metrics.csv` has a row per epoch; its curves, drawn here from the file:

# %%
with open(run / "metrics.csv", newline="") as file:
    rows = list(csv.DictReader(file))
epochs = [int(row["epoch"]) for row in rows]
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.6))
left.plot(epochs, [float(row["train_loss"]) for row in rows], "o-", label="train")
left.plot(epochs, [float(row["test_loss"]) for row in rows], "o-", label="test")
left.set(xlabel="epoch", ylabel="cross-entropy")
left.legend()
right.plot(epochs, [float(row["test_accuracy"]) for row in rows], "o-", color="C1")
right.set(xlabel="epoch", ylabel="test accuracy")
plt.show()

# %% [markdown]
# `convprop evaluate` rebuilds the model from the file (it says so: loading it runs its code),
# reads the same folder with the same normalisation, and reports the accuracy, the confusion
# matrix and each class's precision, recall and F1; `--json` gives the same as JSON:

# %%
convprop(["evaluate", str(run / "model.npz")])
report = json.loads((run / "evaluation.json").read_text())
print(sorted(report))

# %% [markdown]
# ## The weights as NumPy arrays
#
# `state_dict()` gives copies of every parameter and buffer by name, with PyTorch's key names
# (`blocks.0.conv1.weight`): a plain dict of NumPy arrays, which `np.savez` writes as it is.

# %%
state = model.state_dict()
for name, array in list(state.items())[:4]:
    print(f"{name:24} {array.dtype} {array.shape}")
print(f"... {len(state)} arrays, {sum(a.size for a in state.values()):,} numbers")

# %% [markdown]
# ## PyTorch's convention: the kernel flip
#
# convprop's `Conv2d` is the seed's true convolution (kernel flipped); PyTorch's computes the
# correlation. So PyTorch's kernel for the same layer is convprop's flipped on both spatial
# axes. `to_torch(model)` gives the state dict PyTorch's `load_state_dict` takes, kernels
# flipped back; `from_torch(model, state)` loads one, flipping on the way in. Correlating with
# the exported kernel, as PyTorch would, gives exactly our layer's output:

# %%
exported = to_torch(model)
ours = state["stem.0.weight"][0, 0]
theirs = exported["stem.0.weight"][0, 0]
print("PyTorch's kernel is ours flipped:", np.array_equal(theirs, ours[::-1, ::-1]))

image = test_set.images[0, 0].astype(np.float64)
conv = model.stem[0]
with_ours = conv(Tensor(image[None, None])).numpy()[0, 0]
as_pytorch = correlate2d(np.pad(image, 1), theirs, mode="valid") + exported["stem.0.bias"][0]
print(f"max difference {np.max(np.abs(with_ours - as_pytorch)):.1e} (float32 rounding)")

# %% [markdown]
# ## Through a `.safetensors` file, and back
#
# `save_safetensors` writes a `{name: array}` dict in the format PyTorch and Hugging Face
# share (atomically, dtypes kept); `from_torch` reads such a file straight into a model of the
# same structure. A fresh model, loaded from the file, predicts exactly what the trained one
# does.

# %%
path = Path(tempfile.mkdtemp()) / "small_resnet.safetensors"
save_safetensors(to_torch(model), path)
print(path.name, f"{path.stat().st_size:,} bytes;", sorted(load_safetensors(path))[:3], "...")

fresh = from_torch(SmallResNet(seed=1), path)
fresh.eval()
model.eval()
same = np.array_equal(
    fresh(Tensor(test_set.images)).numpy(), model(Tensor(test_set.images)).numpy()
)
print("the reloaded model gives the same outputs:", same)

# %% [markdown]
# ## With PyTorch installed
#
# The same model written with `torch.nn` (change the import) takes the weights in two lines;
# the test suite checks this round trip against PyTorch itself:
#
# ```python
# import torch
#
# torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch(model).items()})
# from_torch(model, torch_model.state_dict())  # and back: tensors are accepted as they are
# ```
#
# See [Weights in and out](../../io/) for the details, and the
# [API reference of `convprop.io`](../../api/io/).
