"""``--model resnet``: shapes, depths, and the same network in PyTorch (outputs and gradients).

PyTorch's twin (:class:`convprop.bench.twin.TorchResNet`, written with ``torch.nn``) gives its
initial weights to convprop's ResNet through ``from_torch``; in float64 the two agree on the
logits, the loss and every parameter's gradient, in training mode (batch statistics) and in
evaluation mode (running statistics, updated identically by the training-mode pass).
"""

from __future__ import annotations

import numpy as np
import pytest

from convprop import nn
from convprop.io import from_torch
from convprop.models import build_model
from convprop.ops import cross_entropy
from convprop.resnet import ResNet, blocks_per_stage, resnet
from convprop.tensor import Tensor


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 8, 8)])
def test_resnet_maps_images_to_logits(shape):
    model = resnet(shape, 10, np.random.default_rng(0), width=4, depth=8)
    x = np.random.default_rng(1).standard_normal((2, *shape), dtype=np.float32)
    out = model(Tensor(x))
    assert out.shape == (2, 10) and out.dtype == np.float32


def test_depth_is_six_n_plus_two_and_width_doubles_per_stage():
    assert [blocks_per_stage(d) for d in (8, 14, 20, 56)] == [1, 2, 3, 9]
    for bad in (7, 10, 21, 2, "20", True):
        with pytest.raises(ValueError, match=r"--depth must be 6n\+2"):
            blocks_per_stage(bad)
    with pytest.raises(ValueError, match="--width must be a positive integer"):
        ResNet(1, 10, np.random.default_rng(0), width=0)
    model = build_model("resnet", (1, 28, 28), 10, np.random.default_rng(0), width=8, depth=14)
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [2, 2, 2]
    assert model.fc.weight.shape == (10, 32)
    assert isinstance(model.layer1[0].shortcut, nn.Identity)  # same shape: identity
    assert isinstance(model.layer2[0].shortcut, nn.Sequential)  # 8 -> 16, stride 2: 1x1 conv
    assert isinstance(model.layer2[1].shortcut, nn.Identity)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 14  # 6n + 1 conv3x3 layers and the linear classifier


def test_resnet20_has_the_papers_size():
    """ResNet-20 for CIFAR-10 has 0.27M parameters (He et al., table 6, option A); the two
    1x1 projections of option B add 16*32 + 32*64 weights and their BatchNorms."""
    model = resnet((3, 32, 32), 10, np.random.default_rng(0))
    projections = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert model.num_parameters() - projections == 269_722


@pytest.mark.parametrize(("shape", "depth", "width"), [((1, 28, 28), 8, 4), ((3, 32, 32), 20, 4)])
def test_resnet_equals_pytorch_in_float64_with_gradients(shape, depth, width):
    torch = pytest.importorskip("torch")
    from convprop.bench.twin import TorchResNet

    torch.manual_seed(0)
    theirs = TorchResNet(shape[0], 10, width, blocks_per_stage(depth)).double()
    ours = resnet(shape, 10, np.random.default_rng(0), width=width, depth=depth).double()
    from_torch(ours, theirs.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, *shape))
    y = rng.integers(0, 10, 4)

    logits = ours(Tensor(x, dtype=np.float64))
    assert logits.dtype == np.float64
    loss = cross_entropy(logits, y)
    loss.backward()
    t_logits = theirs(torch.from_numpy(x))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    t_loss.backward()
    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert abs(float(loss.data) - t_loss.item()) < 1e-12
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        g = grads[name].grad.numpy()
        if p.ndim == 4:  # true-convolution kernels are PyTorch's, flipped
            g = g[:, :, ::-1, ::-1]
        np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-12, err_msg=name)
    ours.eval(), theirs.eval()  # running statistics, updated by the pass above
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        ours(Tensor(x, dtype=np.float64)).data, expected, rtol=1e-10, atol=1e-12
    )


def test_train_and_evaluate_a_resnet_from_the_command_line(tmp_path, capsys):
    import json

    from convprop.cli import main

    out = tmp_path / "run"
    flags = ["--width", "4", "--depth", "14", "--epochs", "1", "--batch-size", "64"]
    assert main(["train", "--model", "resnet", *flags, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["width"] == 4 and summary["config"]["depth"] == 14
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["test_accuracy"]
    assert main(["train", "--resume", str(out / "model.npz"), "--width", "8"]) == 2
    assert "cannot change --width when resuming" in capsys.readouterr().err
