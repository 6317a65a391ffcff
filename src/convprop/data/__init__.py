"""Datasets, loaders, batches and epochs, on NumPy arrays alone.

``idx``        the IDX file format of MNIST: ``read_idx`` (checks everything), ``write_idx``
``dataset``    ``ArrayDataset`` (aligned arrays), ``Split`` (train, test and metadata)
``digits``     ``load_digits``: scikit-learn's 1,797 8x8 digits, read without importing it
``mnist``      ``load_mnist``, ``load_fashion_mnist`` from the four IDX files
``registry``   ``load_dataset(name)`` over ``DATASETS``, a name-to-loader dict
``synthetic``  ``make_synthetic``: a tiny learnable dataset for tests
``loader``     ``DataLoader``: one epoch per iteration, order a pure function of (seed, epoch)
"""

from .dataset import ArrayDataset, DatasetNotFoundError, Split
from .digits import load_digits
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
    "Split",
    "epoch_permutation",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "make_synthetic",
    "read_idx",
    "write_idx",
]
