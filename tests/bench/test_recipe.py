"""The ResNet recipe row on a subset: both sides run end to end and compute the same thing.

The full recipe (15 epochs x 60,000 images, about 30 minutes for convprop on 2 cores) is run by
``convprop bench --only recipe``; here 2 batches of 128 images and 300 test images.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from convprop.bench import recipe  # noqa: E402
from convprop.bench.rows import Skip  # noqa: E402
from convprop.data import FASHION_MNIST_DIR  # noqa: E402

pytestmark = pytest.mark.skipif(
    not Path(FASHION_MNIST_DIR).is_dir(), reason=f"Fashion-MNIST not in {FASHION_MNIST_DIR}"
)


@pytest.fixture
def subset(monkeypatch):
    monkeypatch.setenv("CONVPROP_RECIPE_EPOCHS", "1")
    monkeypatch.setenv("CONVPROP_RECIPE_LIMIT", "256")
    monkeypatch.setenv("CONVPROP_RECIPE_TEST_LIMIT", "300")
    monkeypatch.setenv("CONVPROP_BENCH_THREADS", "1")
    return recipe.sizes()


def test_both_sides_train_the_same_network_from_the_same_weights(subset):
    assert subset == (1, 256, 300)
    ours, theirs = recipe.run_convprop(*subset), recipe.run_torch(*subset)
    for side in (ours, theirs):
        assert side["images"] == 256 and side["test_images"] == 300 and side["seconds"] > 0
    assert ours["num_parameters"] == theirs["num_parameters"] == 77_754
    # two float32 SGD steps from the same weights on the same batches: the same predictions
    assert abs(ours["accuracy"] - theirs["accuracy"]) <= 2 / 300


def test_bench_only_recipe_runs_the_row_with_each_side_in_its_own_process(
    subset, monkeypatch, tmp_path, capsys
):
    from convprop.bench import epoch
    from convprop.bench.suite import run_suite

    def no_lenet(quick=False):  # the LeNet-5 recipe of the same group: minutes, not here
        raise Skip("LeNet-5 recipe: left out by this test")

    monkeypatch.setattr(epoch, "recipe_row", no_lenet)
    report = run_suite(tmp_path / "bench.json", groups=("recipe",))
    (row,) = report["rows"]
    assert row["name"] == "ResNet-8 w16 recipe, 1 epochs x 256 images"
    assert row["convprop_s"] > 0 and row["torch_s"] > 0 and "test acc" in row["note"]
    assert row["extra"]["convprop"]["epochs"] == row["extra"]["torch"]["epochs"] == 1
    assert report["skipped"] == ["LeNet-5 recipe: left out by this test"]
    assert "ResNet-8 w16 recipe" in capsys.readouterr().out
    with pytest.raises(Skip, match="quick"):
        recipe.resnet_recipe_row(quick=True)
