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
# # Training a CNN: data, model, loss, optimizer, the loop, the curves, a checkpoint
#
# The seed's Q3 derives the training objective: with one-hot targets `x_k` and the network's
# class probabilities `f_theta(m | y_k)`, maximum likelihood is
#
# `theta_hat = argmin_theta  -sum_k sum_m x_{k,m} log f_theta(m | y_k)`,
#
# the **cross-entropy** of a softmax output. Q3.7 asks how a neural-network framework does
# this: make the network end in a softmax, take the negative log-likelihood of the correct
# class as the loss, and minimise it by stochastic gradient descent on mini-batches, the
# gradient coming from back-propagation. This notebook writes that loop in full on the
# bundled 8x8 digits, then lets `convprop.train` do the same with metrics and checkpoints.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import convprop
from convprop import nn, optim
from convprop.data import DataLoader, load_dataset
from convprop.models import build_model
from convprop.tensor import Tensor, no_grad

convprop.manual_seed(0)

# %% [markdown]
# ## The data
#
# `load_dataset("digits")` gives the 1,797 8x8 digits of scikit-learn's copy of the UCI set,
# split into train and test, standardised with the training set's mean and standard deviation.
# Images are float32 `(N, C, H, W)`, labels int64 class indices.

# %%
split = load_dataset("digits")
print(split.train, split.test, sep="\n")
print("classes:", split.num_classes, " one image:", split.input_shape)

fig, axes = plt.subplots(1, 8, figsize=(8, 1.4))
for ax, image, label in zip(axes, split.train.images[:8], split.train.labels[:8], strict=True):
    ax.imshow(image[0] * split.std + split.mean, cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The model
#
# The seed's layer stacked: two 3x3 true convolutions with ReLU, then a linear classifier
# over the 10 classes. Its repr lists the layers and their parameter counts.

# %%
rng = np.random.default_rng(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, rng=rng),  # (N, 1, 8, 8) -> (N, 16, 6, 6)
    nn.ReLU(),
    nn.Conv2d(16, 32, 3, rng=rng),  # -> (N, 32, 4, 4)
    nn.ReLU(),
    nn.Flatten(),  # -> (N, 512)
    nn.Linear(32 * 4 * 4, 10, rng=rng),  # -> (N, 10), the logits
)
model  # noqa: B018 (the cell's value: Jupyter shows its repr)

# %% [markdown]
# ## The loss and the optimizer
#
# `nn.CrossEntropyLoss` is softmax and negative log-likelihood in one, averaged over the
# batch: `-(1/K_b) sum_k log f_theta(m_k^* | y_k)`. SGD with momentum 0.9 (PyTorch's form,
# `v <- mu v + g; theta <- theta - lr v`).

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = DataLoader(split.train, batch_size=32, shuffle=True, seed=0)
print(f"{len(loader)} batches of 32 per epoch")

# %% [markdown]
# ## The loop of Q3.7
#
# For each mini-batch: forward, loss, zero the gradients, back-propagate (every layer's G in
# reverse order), step. After each epoch, measure the loss and accuracy on both sets, with
# gradients off.


# %%
def evaluate(model, dataset):
    """Mean cross-entropy and accuracy of `model` on `dataset`, in eval mode."""
    model.eval()
    with no_grad():
        logits = model(Tensor(dataset.images))
        loss = float(loss_fn(logits, dataset.labels).numpy())
    model.train()
    return loss, float(np.mean(np.argmax(logits.numpy(), axis=1) == dataset.labels))


history = []
for epoch in range(6):
    for x, y in loader:
        logits = model(Tensor(x))  # forward: F of every layer
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()  # back-propagation: G of every layer
        optimizer.step()
    train_loss, train_acc = evaluate(model, split.train)
    test_loss, test_acc = evaluate(model, split.test)
    history.append((train_loss, test_loss, train_acc, test_acc))
    print(
        f"epoch {epoch + 1}  train loss {train_loss:.4f} acc {train_acc:.1%}  "
        f"test loss {test_loss:.4f} acc {test_acc:.1%}"
    )

# %% [markdown]
# ## Reading the curves
#
# Both losses fall together at first. When the test loss stops falling while the training
# loss keeps going, the model has started to fit what is particular to the training images
# (overfitting): train longer and the gap grows. A test loss that rises while test accuracy
# holds means the model grows more confident on the examples it gets wrong.

# %%
h = np.array(history)
epochs = np.arange(1, len(h) + 1)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
left.plot(epochs, h[:, 0], "o-", label="train")
left.plot(epochs, h[:, 1], "o-", label="test")
left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
right.plot(epochs, 100 * h[:, 2], "o-", label="train")
right.plot(epochs, 100 * h[:, 3], "o-", label="test")
right.set(xlabel="epoch", ylabel="%", title="accuracy")
left.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Saving and loading weights
#
# A model's `state_dict()` is a dict of NumPy arrays, by name; `load_state_dict` puts them
# back into a model of the same shape.

# %%
state = model.state_dict()
print({name: array.shape for name, array in state.items()})

copy = build_model("cnn", split.input_shape, split.num_classes, np.random.default_rng(1))
copy.load_state_dict(state)
print("same test accuracy:", evaluate(copy, split.test)[1] == evaluate(model, split.test)[1])

# %% [markdown]
# ## The same with `convprop.train`, and resuming
#
# `convprop.train.train(config, out)` is the library's `convprop train`: it checks the whole
# configuration before starting, runs the loop above with a schedule, writes `metrics.csv`,
# `summary.json` and a checkpoint `model.npz` (model, optimizer, schedule, progress, hashed),
# and returns the summary. A run stopped after 3 epochs and resumed to 5 ends exactly where
# an uninterrupted 5-epoch run does. (`progress=False` turns the progress bar off here; in
# Jupyter with `ipywidgets` installed it is a notebook widget.)

# %%
from convprop.config import TrainConfig  # noqa: E402
from convprop.train import train  # noqa: E402

runs = Path(tempfile.mkdtemp())
config = TrainConfig(dataset="digits", model="cnn", epochs=5, batch_size=32, lr=0.05, momentum=0.9)
quiet = dict(split=split, progress=False, log=lambda *a: None)

whole = train(config, runs / "whole", **quiet)
train(TrainConfig(**{**vars(config), "epochs": 3}), runs / "part", **quiet)
print(sorted(p.name for p in (runs / "part").iterdir()))
resumed = train(config, runs / "part", resume=runs / "part" / "model.npz", **quiet)
print(f"uninterrupted: test accuracy {whole['test_accuracy']:.4f}, loss {whole['test_loss']:.6f}")
print(
    f"resumed:       test accuracy {resumed['test_accuracy']:.4f}, loss {resumed['test_loss']:.6f}"
)

# %% [markdown]
# From the command line the same run is `convprop train --epochs 3 --out runs/part`, then
# `convprop train --resume runs/part/model.npz --epochs 5`; `convprop evaluate
# runs/part/model.npz` prints the confusion matrix. See the [train command](../../commands/train/)
# and [Reliability](../../reliability/) for interruption and divergence.
