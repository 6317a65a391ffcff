"""Datasets, loaders, batches and epochs, on NumPy arrays alone.

``idx``        the IDX file format of MNIST: ``read_idx`` (checks everything), ``write_idx``
``dataset``    ``ArrayDataset`` (aligned arrays), ``Split`` (train, test and metadata)
``digits``     ``load_digits``: the 1,797 8x8 UCI digits, shipped in ``files/`` (CC BY 4.0)
``mnist``      ``load_mnist``, ``load_fashion_mnist`` from the four IDX files
``folder``     ``ImageFolder``: ROOT/CLASS/*.png; ``load_image_folders``: DIR/train, DIR/test
``arrays``     ``split_from_arrays``, ``load_npz``: the user's arrays; ``normalized``
``cache``      the on-disk cache of decoded images (keyed by names, sizes and mtimes)
``transforms`` ``Compose``, ``Normalize``, ``RandomCrop``, ``RandomHorizontalFlip``
``registry``   ``load_dataset(name)`` over ``DATASETS``, a name-to-loader dict
``synthetic``  ``make_synthetic``: a tiny learnable dataset for tests
``loader``     ``DataLoader``: one epoch per iteration, order and augmentation a pure function of
               (seed, epoch, batch)
"""

from . import transforms
from .arrays import load_npz, normalized, split_from_arrays
from .dataset import ArrayDataset, DatasetNotFoundError, Split
from .digits import load_digits
from .folder import ImageFolder, load_image_folders
from .idx import IdxError, read_idx, write_idx
from .loader import DataLoader, epoch_permutation
from .mnist import FASHION_MNIST_DIR, MNIST_FILES, load_fashion_mnist, load_mnist
from .registry import DATASETS, load_dataset
from .synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "MNIST_FILES",
    "ArrayDataset",
    "DataLoader",
    "DatasetNotFoundError",
    "IdxError",
    "ImageFolder",
    "Split",
    "epoch_permutation",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folders",
    "load_mnist",
    "load_npz",
    "make_synthetic",
    "normalized",
    "read_idx",
    "split_from_arrays",
    "transforms",
    "write_idx",
]
