"""Images in class folders, torchvision's layout: ``ROOT/CLASS/*.png|jpg|jpeg|bmp``.

``ImageFolder(root)`` decodes every image once with Pillow (the ``images`` extra, imported only
here, when a folder is read), keeps them as uint8 ``(N, C, H, W)`` in ``pixels`` (a quarter of
float32's memory) and gives float32 batches in [0, 1] when indexed. Grayscale images stay one
channel; colour (RGB, RGBA, palette, CMYK, ...) becomes three, alpha dropped; in a folder that
mixes them, the grayscale images are repeated to three channels. Every image must have the same
size unless ``image_size=(H, W)`` resizes them all (bilinear).

Decoding thousands of images shows a progress bar (tqdm, on stderr), and the decoded arrays are
cached on disk (:mod:`convprop.data.cache`): a second run reads one ``.npz`` instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .arrays import split_from_arrays
from .cache import cache_file, fingerprint, read_cache, write_cache
from .dataset import Split

__all__ = [
    "IMAGE_SUFFIXES",
    "PROGRESS_MIN_FILES",
    "ImageFolder",
    "decode_image",
    "find_classes",
    "load_image_folders",
    "parse_image_size",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")  # compared in lower case
PROGRESS_MIN_FILES = 1000  # decoding at least this many files shows a progress bar
_GRAY = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F"}  # modes read as one channel


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading image folders needs Pillow, which is not installed: "
            "pip install 'convprop[images]'"
        ) from None
    return Image


def find_classes(root: Path) -> list[str]:
    """The class folders of ``root``, sorted by name (hidden ones, e.g. the cache, skipped)."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such image folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder (expected {root}/CLASS/*.png)")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"{root}: no class folders (expected {root}/CLASS/*.png, .jpg or .bmp)")
    return classes


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def decode_image(path: Path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """One image as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (colour), resized if asked.

    Raises:
        ValueError: the file is not an image Pillow can read, or is corrupt or truncated.
    """
    image_module = _pillow()
    try:
        with image_module.open(path) as img:
            img.load()
            if img.mode in _GRAY:
                img = _gray8(img, image_module)
            elif img.mode != "RGB":
                if img.mode == "P" and "transparency" in img.info:
                    img = img.convert("RGBA")  # what Pillow asks for such a palette
                img = img.convert("RGB")  # alpha dropped
            if image_size is not None and img.size != (image_size[1], image_size[0]):
                img = img.resize((image_size[1], image_size[0]), image_module.BILINEAR)
            return np.asarray(img, dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError) as error:
        raise ValueError(f"{path}: cannot read the image ({error})") from None


def _gray8(img: Any, image_module: Any) -> Any:
    """A grayscale image of any depth as 8-bit "L" (16-bit values scaled by 1/257)."""
    if img.mode in ("1", "LA", "L"):
        return img.convert("L")
    values = np.asarray(img, dtype=np.float64)
    peak = 1.0 if img.mode == "F" else 65535.0
    scaled = np.clip(np.rint(values / peak * 255.0), 0, 255).astype(np.uint8)
    return image_module.fromarray(scaled, mode="L")


class ImageFolder:
    """The images of ``root/CLASS/...`` and their labels, classes sorted by name.

    Args:
        root: the folder holding one sub-folder per class.
        transform: a batch transform (:mod:`convprop.data.transforms`) that a ``DataLoader``
            over this folder applies to every batch, drawing from its seeded generator.
            Indexing the folder itself gives the images untransformed.
        image_size: ``(H, W)`` to resize every image to; by default all must share one size.
        classes: the class names in label order, to read a test folder with its training
            folder's labels (a folder not in the list is an error; a missing one is allowed).
        cache: keep the decoded arrays on disk (see :mod:`convprop.data.cache`).
        progress: show a progress bar on stderr; by default when decoding at least
            ``PROGRESS_MIN_FILES`` files.

    Attributes:
        classes: the class names; ``classes[k]`` names label ``k``.
        class_to_idx: the inverse, name to label.
        files: each image's path relative to ``root``, in sample order.
        pixels: uint8 ``(N, C, H, W)``.
        labels: int64 ``(N,)``.

    ``folder[idx]`` is ``(pixels[idx] / 255 as float32, labels[idx])`` for any NumPy index.

    Raises:
        ValueError: one line naming the file or folder: an empty class folder, no class
            folders, an unreadable image, images of different sizes, an unknown class.
        ImportError: Pillow is missing (the ``images`` extra).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Any = None,
        image_size: Sequence[int] | None = None,
        *,
        classes: Sequence[str] | None = None,
        cache: bool = True,
        progress: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self.transform = transform
        self.image_size = _check_size(image_size)
        found = find_classes(self.root)
        self.classes = list(classes) if classes is not None else found
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        unknown = [c for c in found if c not in self.class_to_idx]
        if unknown:
            raise ValueError(
                f"{self.root / unknown[0]}: class {unknown[0]!r} is not among the training "
                f"classes ({', '.join(self.classes)})"
            )
        paths, labels = [], []
        for name in found:
            files = _image_files(self.root / name)
            if not files:
                kinds = ", ".join(IMAGE_SUFFIXES)
                raise ValueError(f"{self.root / name}: empty class folder (no {kinds} files)")
            paths += files
            labels += [self.class_to_idx[name]] * len(files)
        self.files = [p.relative_to(self.root).as_posix() for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.pixels = self._read(paths, cache, progress)

    def _read(self, paths: list[Path], cache: bool, progress: bool | None) -> np.ndarray:
        """Decode the images, or read them from the cache when no file has changed."""
        size = self.image_size
        options = f"image_size={size[0]}x{size[1]}" if size else "image_size=native"
        key = fingerprint(self.root, paths, options)
        where = cache_file(self.root, f"images-{options.split('=')[1]}.npz") if cache else None
        cached = (read_cache(where, key) or {}).get("pixels")
        if cached is not None and cached.ndim == 4 and len(cached) == len(paths):
            return cached
        pixels = _decode_all(paths, size, progress)
        write_cache(where, key, {"pixels": pixels})
        return pixels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self.pixels[index].astype(np.float32)
        x /= np.float32(255)
        return x, self.labels[index]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.pixels.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (
            f"ImageFolder({str(self.root)!r}, {len(self)} images {list(self.input_shape)}, "
            f"{len(self.classes)} classes)"
        )


def parse_image_size(text: str) -> list[int]:
    """``"H,W"`` (or ``"HxW"``, or ``"S"`` for a square) as ``[H, W]``, for ``--image-size``."""
    parts = text.lower().replace("x", ",").split(",")
    try:
        size = [int(v) for v in parts]
    except ValueError:
        size = []
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"expected two positive integers H,W (e.g. 32,32), got {text!r}")
    return size


def _check_size(image_size: Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be two positive ints (H, W), got {image_size!r}")
    return size  # type: ignore[return-value]


def _decode_all(
    paths: list[Path], image_size: tuple[int, int] | None, progress: bool | None
) -> np.ndarray:
    """Decode every file into uint8 ``(N, C, H, W)``; sizes must agree unless resized."""
    from tqdm.auto import tqdm

    show = len(paths) >= PROGRESS_MIN_FILES if progress is None else progress
    images, first = [], None
    for path in tqdm(paths, desc="decoding images", unit="img", file=sys.stderr, disable=not show):
        image = decode_image(path, image_size)
        if first is None:
            first = (path, image.shape[:2])
        elif image.shape[:2] != first[1]:
            (h, w), (h0, w0) = image.shape[:2], first[1]
            raise ValueError(
                f"{path}: the image is {h}x{w} but {first[0]} is {h0}x{w0}; images must share "
                "one size, or pass --image-size H,W (image_size=(H, W)) to resize them all"
            )
        images.append(image)
    colour = any(image.ndim == 3 for image in images)
    if colour:
        images = [im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2) for im in images]
        return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))  # (N, 3, H, W)
    return np.stack(images)[:, None]  # (N, 1, H, W)


def load_image_folders(
    data_dir: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = None,
    normalize: Any = False,
    progress: bool | None = None,
) -> Split:
    """The ``Split`` of ``DATA_DIR/train/`` and ``DATA_DIR/test/`` (or ``DATA_DIR/val/``; with
    both, ``test/`` is the test set), each an ``ImageFolder`` with the training classes.

    ``normalize`` is :func:`convprop.data.arrays.normalized`'s. Raises ``ValueError`` (one line
    naming the folder or file) for a folder without ``train/`` or without ``test/`` and
    ``val/``, and for everything ``ImageFolder`` rejects.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected {root}/train/ and test/)")
    train_root, test_root = root / "train", root / "test"
    if not train_root.is_dir():
        raise ValueError(
            f"{root}: no train/ folder (expected {root}/train/CLASS/*.png and {root}/test/ "
            "or val/)"
        )
    if not test_root.is_dir():
        test_root = root / "val"
        if not test_root.is_dir():
            raise ValueError(f"{root}: no test/ or val/ folder beside train/")
    train = ImageFolder(train_root, image_size=image_size, progress=progress)
    test = ImageFolder(test_root, image_size=image_size, classes=train.classes, progress=progress)
    train_pixels, test_pixels = train.pixels, test.pixels
    if train_pixels.shape[2:] != test_pixels.shape[2:]:
        raise ValueError(
            f"{test_root}: the images are {'x'.join(map(str, test_pixels.shape[2:]))} but "
            f"{train_root}'s are {'x'.join(map(str, train_pixels.shape[2:]))}; pass "
            "--image-size H,W (image_size=(H, W)) to resize them all"
        )
    if train_pixels.shape[1] != test_pixels.shape[1]:  # one set has colour: both get three
        train_pixels, test_pixels = (
            np.broadcast_to(p, (len(p), 3, *p.shape[2:])) for p in (train_pixels, test_pixels)
        )
    return split_from_arrays(
        train_pixels,
        train.labels,
        test_pixels,
        test.labels,
        name="folder",
        class_names=train.classes,
        normalize=normalize,
        source=str(root),
    )
