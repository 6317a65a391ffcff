"""ImageFolder and DIR/train + DIR/test: layout, modes, bad input, the cache, the progress bar."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import convprop.data.folder as folder_module
from convprop.data import DatasetNotFoundError, ImageFolder, load_dataset, load_image_folders
from convprop.data.cache import CACHE_ENV, CACHE_FOLDER
from tests.data.images import pattern, write_data_dir, write_folder, write_image

pytest.importorskip("PIL")


@pytest.fixture(autouse=True)
def _cache_inside_the_folders(monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)


def test_layout_classes_sorted_and_labels(tmp_path):
    root = write_folder(tmp_path / "f", classes=("zebra", "ant", "moth"), per_class=3)
    (root / "notes.txt").write_text("ignored: not in a class folder")
    (root / "ant" / "readme.md").write_text("ignored: not an image")
    folder = ImageFolder(root)
    assert folder.classes == ["ant", "moth", "zebra"]
    assert folder.class_to_idx == {"ant": 0, "moth": 1, "zebra": 2}
    assert folder.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert folder.files[:2] == ["ant/00.png", "ant/01.png"] and len(folder) == 9
    assert folder.pixels.dtype == np.uint8 and folder.pixels.shape == (9, 1, 8, 8)
    x, y = folder[np.array([0, 8])]
    assert x.dtype == np.float32 and x.shape == (2, 1, 8, 8) and y.tolist() == [0, 2]
    np.testing.assert_array_equal(x * 255, folder.pixels[[0, 8]].astype(np.float32))
    assert folder.input_shape == (1, 8, 8) and "3 classes" in repr(folder)


def test_pixels_are_read_exactly(tmp_path):
    rng = np.random.default_rng(3)
    gray = (rng.random((5, 7)) * 255).astype(np.uint8)
    rgb = (rng.random((5, 7, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "g" / "a" / "x.png", gray)
    write_image(tmp_path / "c" / "a" / "x.bmp", rgb)
    np.testing.assert_array_equal(ImageFolder(tmp_path / "g").pixels[0, 0], gray)
    np.testing.assert_array_equal(ImageFolder(tmp_path / "c").pixels[0], rgb.transpose(2, 0, 1))


@pytest.mark.parametrize(
    "mode, channels",
    [("L", 1), ("1", 1), ("LA", 1), ("I;16", 1), ("RGB", 3), ("RGBA", 3), ("P", 3)],
)
def test_grayscale_stays_one_channel_colour_becomes_three(tmp_path, mode, channels):
    rng = np.random.default_rng(0)
    array = pattern(1, (6, 6), rng, colour=channels == 3)
    write_image(tmp_path / "f" / "a" / "x.png", array, mode=mode)
    folder = ImageFolder(tmp_path / "f")
    assert folder.pixels.shape == (1, channels, 6, 6) and folder.pixels.dtype == np.uint8
    if mode in ("L", "LA", "RGB", "RGBA"):  # lossless round trips
        expect = array if channels == 1 else array.transpose(2, 0, 1)
        np.testing.assert_array_equal(folder.pixels[0].reshape(expect.shape), expect)


def test_jpeg_and_mixed_gray_and_colour(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "f" / "a" / "0.jpg", pattern(0, (8, 8), rng, colour=True))
    write_image(tmp_path / "f" / "b" / "0.JPEG", pattern(1, (8, 8), rng, colour=False))
    folder = ImageFolder(tmp_path / "f")
    assert folder.pixels.shape == (2, 3, 8, 8)  # the grayscale one repeated to three channels
    assert np.array_equal(folder.pixels[1, 0], folder.pixels[1, 2])


def test_image_size_resizes_every_image(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "f" / "a" / "0.png", pattern(0, (8, 8), rng, False))
    write_image(tmp_path / "f" / "a" / "1.png", pattern(0, (12, 10), rng, False))
    folder = ImageFolder(tmp_path / "f", image_size=(6, 5))
    assert folder.pixels.shape == (2, 1, 6, 5)


# ---------------------------------------------------------------- bad input, one line each


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_corrupt_image_is_named(tmp_path):
    root = write_folder(tmp_path / "f")
    bad = root / "b" / "01.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError) as error:
        ImageFolder(root)
    assert _one_line(error).startswith(f"{bad}: cannot read the image")


def test_truncated_image_is_named(tmp_path):
    root = write_folder(tmp_path / "f", size=(32, 32))
    bad = root / "c" / "02.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(ValueError, match=f"^{bad}: cannot read the image"):
        ImageFolder(root)


def test_mixed_sizes_name_both_files_and_the_flag(tmp_path):
    root = write_folder(tmp_path / "f")
    odd = write_image(root / "c" / "99.png", np.zeros((9, 8), np.uint8))
    with pytest.raises(ValueError) as error:
        ImageFolder(root)
    message = _one_line(error)
    assert message.startswith(f"{odd}: the image is 9x8 but ") and "is 8x8" in message
    assert "--image-size H,W" in message


def test_empty_class_folder_is_named(tmp_path):
    root = write_folder(tmp_path / "f")
    (root / "d").mkdir()
    (root / "d" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=f"^{root / 'd'}: empty class folder"):
        ImageFolder(root)


def test_no_class_folders_and_missing_folder(tmp_path):
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="flat: no class folders"):
        ImageFolder(tmp_path / "flat")
    with pytest.raises(FileNotFoundError, match="nowhere: no such image folder"):
        ImageFolder(tmp_path / "nowhere")


def test_pillow_missing_names_the_extra(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(ImportError) as error:
        ImageFolder(root, cache=False)
    assert _one_line(error) == (
        "reading image folders needs Pillow, which is not installed: "
        "pip install 'convprop[images]'"
    )


# ---------------------------------------------------------------- DIR/train and DIR/test


def test_train_and_test_folders(tmp_path):
    split = load_image_folders(write_data_dir(tmp_path / "d"))
    assert (len(split.train), len(split.test), split.num_classes) == (18, 6, 3)
    assert split.class_names == ("a", "b", "c") and split.input_shape == (1, 8, 8)
    assert split.train.images.dtype == np.float32 and split.train.labels.dtype == np.int64
    assert 0 <= split.train.images.min() and split.train.images.max() <= 1


def test_val_is_the_test_set_when_there_is_no_test(tmp_path):
    root = write_data_dir(tmp_path / "d", test_name="val")
    assert len(load_image_folders(root).test) == 6
    write_folder(root / "test", per_class=1)  # with both, test/ is the test set
    assert len(load_image_folders(root).test) == 3


def test_test_classes_use_the_training_labels(tmp_path):
    root = tmp_path / "d"
    write_folder(root / "train", classes=("a", "b", "c"))
    write_folder(root / "test", classes=("c",), per_class=2)
    assert load_image_folders(root).test.labels.tolist() == [2, 2]
    write_folder(root / "test", classes=("z",), per_class=1)
    with pytest.raises(ValueError, match="class 'z' is not among the training classes"):
        load_image_folders(root)


def test_folder_bad_layouts(tmp_path):
    root = tmp_path / "d"
    write_folder(root / "test")
    with pytest.raises(ValueError, match=f"^{root}: no train/ folder"):
        load_image_folders(root)
    write_folder(root / "train")
    os.rename(root / "test", root / "other")
    with pytest.raises(ValueError, match=f"^{root}: no test/ or val/ folder beside train/"):
        load_image_folders(root)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_image_folders(tmp_path / "missing")


def test_train_and_test_of_different_sizes(tmp_path):
    root = tmp_path / "d"
    write_folder(root / "train", size=(8, 8))
    write_folder(root / "test", size=(10, 10))
    with pytest.raises(ValueError, match=r"test: the images are 10x10 but .*train's are 8x8"):
        load_image_folders(root)
    assert load_image_folders(root, image_size=(9, 9)).input_shape == (1, 9, 9)


def test_registry_and_normalize(tmp_path):
    root = write_data_dir(tmp_path / "d", colour=True)
    split = load_dataset("folder", root, normalize=True)
    assert split.input_shape == (3, 8, 8) and len(split.mean) == len(split.std) == 3
    np.testing.assert_allclose(split.train.images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(split.train.images.std(axis=(0, 2, 3)), 1, atol=1e-4)
    again = load_dataset("folder", root, normalize=(split.mean, split.std))
    np.testing.assert_array_equal(again.test.images, split.test.images)
    with pytest.raises(DatasetNotFoundError, match="needs --data-dir"):
        load_dataset("folder")
    with pytest.raises(ValueError, match="--normalize is for folder and npz data: digits"):
        load_dataset("digits", normalize=True)
    with pytest.raises(ValueError, match="--image-size .* is for folder data, not npz"):
        load_dataset("npz", tmp_path / "x.npz", image_size=(8, 8))


# ---------------------------------------------------------------- the cache and the progress bar


def _counting_decoder(monkeypatch):
    calls = []
    real = folder_module.decode_image

    def counting(path, image_size=None):
        calls.append(path)
        return real(path, image_size)

    monkeypatch.setattr(folder_module, "decode_image", counting)
    return calls


def test_second_load_reads_the_cache_and_a_touched_file_invalidates_it(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    calls = _counting_decoder(monkeypatch)
    first = ImageFolder(root)
    assert len(calls) == 12 and (root / CACHE_FOLDER / "images-native.npz").is_file()
    assert ImageFolder(root).classes == first.classes  # the cache folder is not a class
    second = ImageFolder(root)
    assert len(calls) == 12  # not decoded again
    np.testing.assert_array_equal(second.pixels, first.pixels)
    stamp = (root / "b" / "02.png").stat().st_mtime_ns + 5_000_000_000
    os.utime(root / "b" / "02.png", ns=(stamp, stamp))
    ImageFolder(root)
    assert len(calls) == 24  # one file changed: decoded again
    ImageFolder(root)
    assert len(calls) == 24
    (root / "a" / "00.png").unlink()  # a removed file changes the key too
    assert len(ImageFolder(root)) == 11 and len(calls) == 35
    ImageFolder(root, image_size=(4, 4))  # another size is another entry
    assert len(calls) == 46


def test_cache_location_env_and_off(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    calls = _counting_decoder(monkeypatch)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    ImageFolder(root)
    ImageFolder(root)
    assert len(calls) == 12 and not (root / CACHE_FOLDER).exists()
    assert len(list((tmp_path / "cache").glob("*-images-native.npz"))) == 1
    monkeypatch.setenv(CACHE_ENV, "off")
    ImageFolder(root)
    assert len(calls) == 24


def test_a_read_only_folder_caches_in_the_user_cache(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as if read-only
    ImageFolder(root)
    assert list((tmp_path / "home-cache" / "convprop").glob("*-images-native.npz"))


def test_a_damaged_cache_is_decoded_again(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f")
    first = ImageFolder(root)
    (root / CACHE_FOLDER / "images-native.npz").write_bytes(b"garbage")
    calls = _counting_decoder(monkeypatch)
    np.testing.assert_array_equal(ImageFolder(root).pixels, first.pixels)
    assert len(calls) == 12


def test_progress_bar_on_stderr_only_for_many_files(tmp_path, monkeypatch, capsys):
    root = write_folder(tmp_path / "f", per_class=2)
    ImageFolder(root, cache=False)
    assert "decoding images" not in capsys.readouterr().err  # 6 files: no bar
    monkeypatch.setattr(folder_module, "PROGRESS_MIN_FILES", 5)
    ImageFolder(root, cache=False)
    captured = capsys.readouterr()
    assert "decoding images" in captured.err and "6/6" in captured.err and not captured.out
