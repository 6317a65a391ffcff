"""Tests for convprop.data: the IDX format, the dataset loaders and the DataLoader's epochs."""

from __future__ import annotations

import ast
import gzip
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convprop.data.mnist as mnist_module
from convprop.data import (
    DATASETS,
    FASHION_MNIST_DIR,
    MNIST_FILES,
    ArrayDataset,
    DataLoader,
    DatasetNotFoundError,
    IdxError,
    epoch_permutation,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    make_synthetic,
    read_idx,
    write_idx,
)

DATA_SRC = Path(__file__).resolve().parents[2] / "src" / "convprop" / "data"
IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


# ---------------------------------------------------------------- IDX format


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (0, 2)])
def test_idx_round_trip(tmp_path, dtype, suffix, shape):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative and b.shape == shape
    assert b.flags.writeable
    np.testing.assert_array_equal(a, b)


def test_idx_gzip_is_sniffed_and_deterministic(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    (tmp_path / "no-suffix").write_bytes((tmp_path / "a.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "no-suffix"), a)


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="0-d"):
        write_idx(tmp_path / "x", np.zeros((), dtype=np.uint8))


def _valid_idx() -> bytes:
    # uint8, 2 dims, 2x3, then 6 data bytes
    return bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(6)


CORRUPT = {
    "wrong-magic": (b"\x01\x00" + _valid_idx()[2:], "bad magic number"),
    "not-idx": (b"PK\x03\x04 a zip file", "bad magic number"),
    "unknown-type": (b"\x00\x00\x0a" + _valid_idx()[3:], "unknown type code 0x0A"),
    "zero-dims": (bytes([0, 0, 0x08, 0]), "bad dimension count 0"),
    "empty": (b"", "truncated header"),
    "short-magic": (b"\x00\x00\x08", "truncated header"),
    "truncated-header": (_valid_idx()[:9], "truncated header: 2 dimensions need a 12-byte"),
    "truncated-data": (_valid_idx()[:-1], "truncated: header says 2x3 uint8 = 6 bytes of data, "),
    "extra-data": (_valid_idx() + b"\x00", "oversized: header says 2x3 uint8 = 6 bytes of data, "),
    "wide-truncated": (bytes([0, 0, 0x0E, 1, 0, 0, 0, 2]) + bytes(15), "= 16 bytes of data"),
    "corrupt-gzip": (gzip.compress(_valid_idx())[:-6] + b"\xff" * 6, "corrupt gzip stream"),
    "cut-gzip": (gzip.compress(_valid_idx())[:15], "corrupt gzip stream"),
    "gzip-not-idx": (gzip.compress(b"hello"), "bad magic number"),
    "gzip-extra-data": (gzip.compress(_valid_idx() + b"\x07"), "oversized: header says 2x3"),
    "gzip-garbage-after": (gzip.compress(_valid_idx()) + b"junk", "trailing bytes after"),
    "gzip-huge-header": (
        gzip.compress(bytes([0, 0, 0x0D, 3]) + (65536).to_bytes(4, "big") * 3),
        "more than the 4294967296",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_idx_raises_idx_error_naming_the_file(tmp_path, case):
    blob, message = CORRUPT[case]
    path = tmp_path / f"train-images-{case}.gz"
    path.write_bytes(blob)
    with pytest.raises(IdxError, match=message) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert isinstance(info.value, ValueError)


def test_gzip_members_and_zero_padding_are_read_like_gzip_does(tmp_path):
    blob = _valid_idx()
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(blob[:5]) + gzip.compress(blob[5:]) + bytes(8))
    np.testing.assert_array_equal(read_idx(path), np.zeros((2, 3), np.uint8))


def test_a_gzip_bomb_is_stopped_just_past_what_its_header_declares(tmp_path):
    """64 MiB of zeros after a header that declares 6 bytes: about 64 KB compressed. The
    reader must refuse it without inflating it (tracemalloc sees every bytearray it grows)."""
    import tracemalloc

    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_valid_idx() + bytes(64 << 20), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(IdxError, match="oversized: header says 2x3 uint8 = 6 bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"the reader held {peak} bytes for a 6-byte file"


def test_missing_idx_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def _read_bytes_or_idx_error(path: Path, blob: bytes) -> None:
    path.write_bytes(blob)
    try:
        read_idx(path)
    except IdxError as err:
        assert str(path) in str(err)


@pytest.fixture(scope="module")
def fuzz_path(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzz.idx"


@settings(max_examples=300, deadline=500)
@given(head=st.sampled_from([b"", b"\x00\x00", b"\x00\x00\x08", b"\x1f\x8b"]), tail=st.binary())
def test_fuzz_random_bytes_raise_only_idx_error(fuzz_path, head, tail):
    _read_bytes_or_idx_error(fuzz_path, head + tail)


VALID_RAW = bytes([0, 0, 0x0B, 2, 0, 0, 0, 3, 0, 0, 0, 4]) + bytes(range(24))
VALID_GZ = gzip.compress(VALID_RAW, mtime=0)


@settings(max_examples=200, deadline=500)
@given(blob=st.sampled_from([VALID_RAW, VALID_GZ]), data=st.data())
def test_fuzz_truncated_or_flipped_files_raise_only_idx_error(fuzz_path, blob, data):
    cut = data.draw(st.integers(0, len(blob)))
    if cut < len(blob):  # every strict truncation is an error
        fuzz_path.write_bytes(blob[:cut])
        with pytest.raises(IdxError):
            read_idx(fuzz_path)
    damaged = bytearray(blob[:cut])
    if damaged:
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] ^= data.draw(st.integers(1, 255))
    _read_bytes_or_idx_error(fuzz_path, bytes(damaged))


# ---------------------------------------------------------------- datasets


def test_array_dataset_indexing_and_length_check():
    ds = ArrayDataset(np.arange(20.0).reshape(10, 2), np.arange(10))
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x, [6.0, 7.0])
    assert y == 3
    for index in (slice(2, 5), np.array([4, 0, 4]), np.arange(10) % 3 == 0):
        x, y = ds[index]
        np.testing.assert_array_equal(y, np.arange(10)[index])
        np.testing.assert_array_equal(x[:, 0], 2 * np.arange(10)[index])
    with pytest.raises(ValueError, match="10 images .* but 9 labels"):
        ArrayDataset(np.zeros((10, 2)), np.zeros(9))


def _write_mnist(folder: Path, gz: bool, n_train: int = 12, n_test: int = 6, size=(5, 4)):
    """Four small MNIST-style files; pixel values cycle through 0..255, labels through 0..9."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = []
    for n in (n_train, n_test):
        pixels = (np.arange(n * size[0] * size[1]) * 37 % 256).astype(np.uint8).reshape(n, *size)
        arrays += [pixels, (np.arange(n) % 10).astype(np.uint8)]
    for name, a in zip(MNIST_FILES, arrays, strict=True):
        write_idx(folder / (name + suffix), a)
    return arrays


@pytest.mark.parametrize("layout", ["raw", "gz", "torchvision", "torchvision-gz"])
def test_load_mnist_layouts(tmp_path, layout):
    folder = tmp_path / "MNIST" / "raw" if layout.startswith("torchvision") else tmp_path
    train_px, train_y, test_px, test_y = _write_mnist(folder, gz=layout.endswith("gz"))
    s = load_mnist(tmp_path, standardize=False)
    assert (s.name, s.num_classes, s.input_shape, s.mean, s.std) == ("mnist", 10, (1, 5, 4), 0, 1)
    assert s.train.images.shape == (12, 1, 5, 4) and s.test.images.shape == (6, 1, 5, 4)
    assert s.train.images.dtype == np.float32 and s.train.labels.dtype == np.int64
    np.testing.assert_allclose(s.train.images[:, 0], train_px / 255, rtol=1e-6)
    np.testing.assert_array_equal(s.test.labels, test_y)
    assert s.source == str(folder)


def test_load_mnist_standardizes_with_train_statistics(tmp_path):
    train_px, _, test_px, _ = _write_mnist(tmp_path, gz=False)
    s = load_mnist(tmp_path)
    mean, std = (train_px / 255).mean(), (train_px / 255).std()
    assert s.mean == pytest.approx(mean, rel=1e-12) and s.std == pytest.approx(std, rel=1e-12)
    np.testing.assert_allclose(s.test.images[:, 0], (test_px / 255 - mean) / std, atol=1e-5)
    assert abs(s.train.images.mean()) < 1e-5 and s.train.images.std() == pytest.approx(1, 1e-5)


def test_load_fashion_mnist_from_dir_and_default(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    s = load_fashion_mnist(tmp_path)
    assert s.name == "fashion-mnist" and s.class_names[9] == "Ankle boot"
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "FashionMNIST" / "raw")
    assert load_fashion_mnist().train.images.shape == (12, 1, 5, 4)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def test_missing_mnist_files_list_names_and_folders(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path / "nowhere")
    message = str(info.value)
    assert all(name in message for name in MNIST_FILES)
    assert str(tmp_path / "nowhere") in message and "MNIST/raw" in message
    assert isinstance(info.value, FileNotFoundError)
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\)"):
        load_mnist(tmp_path)


def test_mnist_count_mismatch_and_bad_labels(tmp_path):
    _write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    both = "t10k-images-idx3-ubyte holds 6 images but .*t10k-labels-idx1-ubyte holds 5 labels"
    with pytest.raises(ValueError, match=both):
        load_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 10, 4, 5], np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 9\].*the first is 10 at index 3"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((6, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="expected uint8 labels of shape"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(IdxError, match="t10k-labels-idx1-ubyte: truncated header"):
        load_mnist(tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    s = load_fashion_mnist()
    assert len(s.train) == 60000 and len(s.test) == 10000 and s.input_shape == (1, 28, 28)
    assert s.mean == pytest.approx(0.2860, abs=1e-3) and s.std == pytest.approx(0.3530, abs=1e-3)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shapes_and_split(digits):
    assert (len(digits.train), len(digits.test)) == (1438, 359)
    assert digits.train.images.shape == (1438, 1, 8, 8) and digits.input_shape == (1, 8, 8)
    assert digits.train.images.dtype == np.float32 and digits.test.labels.dtype == np.int64
    all_labels = np.concatenate([digits.train.labels, digits.test.labels])
    assert set(all_labels.tolist()) == set(range(10)) and digits.num_classes == 10
    for c in range(10):
        n_c = np.sum(all_labels == c)
        assert np.sum(digits.test.labels == c) == round(0.2 * n_c)
    assert abs(digits.train.images.mean()) < 1e-5


def test_digits_split_is_fixed(digits):
    again = load_digits()
    np.testing.assert_array_equal(again.test.images, digits.test.images)
    np.testing.assert_array_equal(again.train.labels, digits.train.labels)
    from convprop.data.digits import _read_digits_csv, digits_csv_path, digits_split_indices

    _, labels = _read_digits_csv(digits_csv_path())
    train, test = digits_split_indices(labels)
    assert test[:10].tolist() == [5, 9, 12, 14, 16, 17, 19, 23, 24, 34] and test.sum() == 324981
    assert (
        np.union1d(train, test).tolist() == list(range(1797))
        and not np.intersect1d(train, test).size
    )


def test_digits_unstandardized_pixels_are_sixteenths(digits):
    raw = load_digits(standardize=False)
    assert (raw.mean, raw.std) == (0.0, 1.0)
    assert raw.train.images.min() == 0 and raw.train.images.max() == 1
    np.testing.assert_array_equal(raw.train.images * 16, np.rint(raw.train.images * 16))
    restored = digits.test.images * digits.std + digits.mean  # undo the standardisation
    np.testing.assert_allclose(raw.test.images, restored, atol=1e-6)


def test_digits_without_sklearn(monkeypatch):
    """The digits ship with convprop: no scikit-learn, not even its files, is needed."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # an import of it would fail
    assert len(load_digits().train) == 1438


def test_digits_missing_file_is_named(monkeypatch, tmp_path):
    import convprop.data.digits as digits_module

    monkeypatch.setattr(digits_module, "DIGITS_CSV", tmp_path / "digits.csv.gz")
    with pytest.raises(DatasetNotFoundError, match=r"digits.csv.gz is missing .* reinstall"):
        load_digits()


def test_digits_file_is_package_data_with_its_attribution():
    from convprop.data.digits import digits_csv_path

    root = Path(__file__).resolve().parents[2]
    path = digits_csv_path()
    assert path == root / "src/convprop/data/files/digits.csv.gz"
    assert path.stat().st_size == 57523
    licence = (path.parent / "DIGITS-LICENSE.txt").read_text()
    for needed in ("Alpaydin", "Kaynak", "CC BY 4.0", "10.24432/C50P49", "UCI"):
        assert needed in licence
    pyproject = (root / "pyproject.toml").read_text()
    assert '"files/digits.csv.gz", "files/DIGITS-LICENSE.txt"' in pyproject
    makefile = (root / "Makefile").read_text()
    assert "data," not in makefile and "scikit-learn" not in pyproject.split("dev = [")[0]


def test_digits_equal_scikit_learns_load_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    from convprop.data.digits import _read_digits_csv, digits_csv_path

    theirs = datasets.load_digits()
    pixels, labels = _read_digits_csv(digits_csv_path())
    np.testing.assert_array_equal(pixels.reshape(1797, 64), theirs.data)
    np.testing.assert_array_equal(pixels, theirs.images)
    np.testing.assert_array_equal(labels, theirs.target)


def test_digits_does_not_import_sklearn(digits):
    code = "import sys, convprop.data as d; d.load_digits(); assert 'sklearn' not in sys.modules"
    src = str(DATA_SRC.parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_load_dataset_dispatch(tmp_path, digits):
    assert list(DATASETS) == ["digits", "mnist", "fashion-mnist", "folder", "npz"]
    np.testing.assert_array_equal(load_dataset("digits").train.labels, digits.train.labels)
    assert load_dataset("digits", standardize=False).std == 1.0
    with pytest.raises(ValueError, match="digits, mnist, fashion-mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="no data_dir"):
        load_dataset("digits", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="no default location"):
        load_dataset("mnist")
    _write_mnist(tmp_path, gz=True)
    assert load_dataset("mnist", tmp_path).name == "mnist"
    assert load_dataset("fashion-mnist", tmp_path).name == "fashion-mnist"


def test_make_synthetic():
    s = make_synthetic(num_classes=4, n_train=40, n_test=8, image_size=6)
    assert s.train.images.shape == (40, 1, 6, 6) and s.input_shape == (1, 6, 6)
    assert np.bincount(s.train.labels).tolist() == [10] * 4 and s.num_classes == 4


def test_data_package_imports_only_numpy_and_stdlib():
    # The standard library (never pickle), NumPy, and the optional Pillow and tqdm.
    allowed = set(sys.stdlib_module_names) - {"pickle", "shelve", "marshal"}
    allowed |= {"numpy", "PIL", "tqdm", "convprop"}
    paths = sorted(DATA_SRC.glob("*.py"))
    assert len(paths) >= 8, DATA_SRC
    for path in paths:
        source = path.read_text()
        assert "allow_pickle=True" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


# ---------------------------------------------------------------- DataLoader


def _dataset(n: int) -> ArrayDataset:
    return ArrayDataset(np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 40), data=st.data(), shuffle=st.booleans(), drop_last=st.booleans())
def test_loader_epoch_visits_every_index_once(n, data, shuffle, drop_last):
    b = data.draw(st.integers(1, n))
    loader = DataLoader(_dataset(n), b, shuffle=shuffle, drop_last=drop_last, seed=3)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // b if drop_last else -(-n // b))
    seen = np.concatenate([y for _, y in batches])
    assert all(len(y) == b for _, y in batches[:-1])
    assert len(set(seen.tolist())) == len(seen)  # no index twice
    assert len(seen) == (n - n % b if drop_last else n)
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))
    for x, y in batches:
        np.testing.assert_array_equal(x[:, 0], 3 * y)  # x and y stay aligned


def test_loader_len_like_pytorch():
    assert len(DataLoader(_dataset(10), 3)) == 4
    assert len(DataLoader(_dataset(10), 3, drop_last=True)) == 3
    assert len(DataLoader(_dataset(9), 3, drop_last=True)) == 3
    assert [len(y) for _, y in DataLoader(_dataset(10), 3)] == [3, 3, 3, 1]


def _order(loader: DataLoader) -> list[int]:
    return np.concatenate([y for _, y in loader]).tolist()


def test_loader_order_is_a_function_of_seed_and_epoch():
    a, b, c = (DataLoader(_dataset(50), 8, seed=s) for s in (0, 0, 1))
    first = _order(a)
    assert first == _order(b) and first != _order(c)
    assert a.epoch == 1 and _order(a) != first  # the next epoch is a new order
    assert first == epoch_permutation(50, 0, 0).tolist()
    assert first == np.random.default_rng([0, 0]).permutation(50).tolist()
    a.set_epoch(0)
    assert _order(a) == first and a.epoch == 1
    iter(a)
    assert a.epoch == 2  # the counter advances as an iteration starts
    in_order = DataLoader(_dataset(50), 8, shuffle=False)
    assert _order(in_order) == _order(in_order) == list(range(50))


def test_batch_indices_match_iteration_and_resume_mid_epoch():
    ds = _dataset(30)
    loader = DataLoader(ds, 7, seed=5)
    loader.set_epoch(2)
    expected = loader.batch_indices(2)
    it = iter(loader)
    seen = [next(it)[1] for _ in range(2)]  # interrupted after two batches
    resumed = DataLoader(ds, 7, seed=5)
    rest = [ds[idx][1] for idx in resumed.batch_indices(2)[2:]]
    for got, want in zip(seen + rest, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [len(i) for i in expected] == [7, 7, 7, 7, 2]


def test_loader_validation():
    ds = _dataset(10)
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            DataLoader(ds, bad)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ds, 2, seed=-1)
    with pytest.raises(ValueError, match="batch_size 11 is larger than the dataset's 10"):
        DataLoader(ds, 11)
    with pytest.raises(ValueError, match="no batch at all"):
        DataLoader(ds, 11, drop_last=True, allow_large_batch=True)
    ((x, y),) = DataLoader(ds, 11, allow_large_batch=True)
    assert sorted(y.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="empty"):
        DataLoader(_dataset(0), 1)
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(ds, 2).set_epoch(-1)
    assert len(DataLoader(ds, np.int64(5))) == 2


def test_loader_over_a_split():
    split = make_synthetic()
    x, y = next(iter(DataLoader(split.train, 16)))
    assert x.shape == (16, *split.input_shape) and x.dtype == np.float32 and y.dtype == np.int64
