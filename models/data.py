"""Offline-first loading of MNIST and CIFAR-10 with the paper's splits.

Images come back as float32 in [0, 1] with a channel axis, shape
(N, H, W, C); labels as int64 in [0, 10). The validation set (5,000 images)
is drawn uniformly at random from the official training set with a fixed,
recorded seed, as in the paper (Table 2):

    MNIST     55,000 train / 5,000 validation / 10,000 test
    CIFAR-10  45,000 train / 5,000 validation / test (1,017 images in the
              offline copy of shared/datasets, 10,000 from a Keras download)

The data directory is the ``data_dir`` argument, else the environment
variable ``RC_DATA_DIR``. It must hold Keras-layout ``mnist.npz`` /
``cifar10.npz`` files; a directory that is named but missing, or that lacks
the file, is an error (never a silent switch to other data). Only when
neither is set is the standard Keras download used (needs internet; for
CIFAR-10 it gives the 10,000 official test images, not the offline 1,017),
and that is announced on stderr.
"""
import dataclasses
import hashlib
import os
import sys

import numpy as np

DATA_DIR_ENV = "RC_DATA_DIR"
DEFAULT_SPLIT_SEED = 20170707
VALIDATION_SIZE = 5000

# Shapes and known checksums of the offline files (shared/datasets/README.md).
_SPECS = {
    "mnist": {
        "image_shape": (28, 28),
        "num_train": 60000,
        "sha256": {"06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"},
    },
    "cifar10": {
        "image_shape": (32, 32, 3),
        "num_train": 50000,
        "sha256": {"48f93b73c639adefe7b7de594a5cda5c6b36945a277a135e85b7c6d1ce7e183a"},
    },
}
DATASETS = tuple(_SPECS)
NUM_CLASSES = 10
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DataError(ValueError):
    """A dataset file is missing, unreadable or not what it should be."""


@dataclasses.dataclass
class Dataset:
    """One dataset split three ways; images (N, H, W, C) float32 in [0, 1]."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str          # the file read, or "keras download"
    sha256: str          # of that file ("" for a Keras download)
    split_seed: int

    @property
    def test_note(self):
        """A phrase to print beside test figures, naming the test set size."""
        n = len(self.x_test)
        if self.name == "cifar10" and n < 10000:
            return f"{n:,} of the 10,000 official CIFAR-10 test images (offline copy)"
        return f"{n:,} test images"

    def record(self):
        """JSON-ready provenance for run records."""
        return {"dataset": self.name, "source": self.source, "sha256": self.sha256,
                "split_seed": self.split_seed, "train": len(self.x_train),
                "validation": len(self.x_val), "test": len(self.x_test)}


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_data_dir(data_dir=None):
    """The data directory from the argument or ``$RC_DATA_DIR``, or None if neither is set.

    Raises:
        DataError: the directory named is not an existing directory (the
            message says whether it came from the argument or the variable).
    """
    if data_dir:
        where = f"data directory {data_dir}"
    elif os.environ.get(DATA_DIR_ENV):
        data_dir = os.environ[DATA_DIR_ENV]
        where = f"${DATA_DIR_ENV} = {data_dir}"
    else:
        return None
    if not os.path.isdir(data_dir):
        raise DataError(f"{where}: no such directory "
                        f"(it should hold the Keras-layout mnist.npz / cifar10.npz)")
    return data_dir


def _read_npz(path, name, check_sha256):
    spec = _SPECS[name]
    sha = file_sha256(path)
    if check_sha256 and sha not in spec["sha256"]:
        raise DataError(
            f"{path}: sha256 is {sha}, expected {sorted(spec['sha256'])[0]} "
            f"(a corrupt or different copy of {name}; pass check_sha256=False to accept it)")
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as e:  # zipfile/pickle/KeyError: all mean the same to the user
        raise DataError(f"{path}: cannot read a Keras-layout {name} .npz "
                        f"(arrays x_train, y_train, x_test, y_test): {e}") from e
    return arrays, sha


def _keras_download(name):
    import keras
    loader = {"mnist": keras.datasets.mnist, "cifar10": keras.datasets.cifar10}[name]
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _check_arrays(arrays, name, where):
    spec = _SPECS[name]
    shape = spec["image_shape"]
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], np.reshape(arrays[f"y_{split}"], (-1,))
        if x.dtype != np.uint8 or tuple(x.shape[1:]) != shape:
            raise DataError(f"{where}: x_{split} has dtype {x.dtype} and shape {x.shape}, "
                            f"expected uint8 images of shape (N, {', '.join(map(str, shape))})")
        if len(y) != len(x) or (len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES)):
            raise DataError(f"{where}: y_{split} must hold {len(x)} labels in [0, {NUM_CLASSES})")
    if len(arrays["x_train"]) != spec["num_train"]:
        raise DataError(f"{where}: x_train has {len(arrays['x_train'])} images, "
                        f"expected {spec['num_train']}")


def _to_float(x):
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def load_dataset(name, data_dir=None, split_seed=DEFAULT_SPLIT_SEED,
                 validation_size=VALIDATION_SIZE, check_sha256=True):
    """Load ``name`` ("mnist" or "cifar10") with the paper's splits.

    Args:
        name: "mnist" or "cifar10".
        data_dir: folder holding ``<name>.npz``; default ``$RC_DATA_DIR``;
            with neither, Keras downloads it (announced on stderr).
        split_seed: seed of the uniform draw of the validation set.
        validation_size: images moved from the training to the validation set.
        check_sha256: refuse an offline file whose checksum is not the known one.

    Returns:
        A `Dataset`.

    Raises:
        DataError: unknown name, missing data directory or file, unreadable
            or malformed file, wrong checksum.
    """
    if name not in _SPECS:
        raise DataError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    directory = resolve_data_dir(data_dir)
    if directory is None:
        print(f"note: neither a data directory nor ${DATA_DIR_ENV} is set; downloading "
              f"{name} with Keras (set ${DATA_DIR_ENV} to the folder of {name}.npz to use "
              f"the offline copy)", file=sys.stderr, flush=True)
        arrays, sha, source = _keras_download(name), "", "keras download"
    else:
        path = os.path.join(directory, f"{name}.npz")
        if not os.path.exists(path):
            raise DataError(f"{path}: file not found (expected the Keras-layout {name}.npz)")
        arrays, sha = _read_npz(path, name, check_sha256)
        source = os.path.abspath(path)
    _check_arrays(arrays, name, source)

    y_train_all = np.reshape(arrays["y_train"], (-1,)).astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(y_train_all))
    val_idx, train_idx = np.sort(order[:validation_size]), np.sort(order[validation_size:])
    x_all = arrays["x_train"]
    return Dataset(
        name=name,
        x_train=_to_float(x_all[train_idx]), y_train=y_train_all[train_idx],
        x_val=_to_float(x_all[val_idx]), y_val=y_train_all[val_idx],
        x_test=_to_float(arrays["x_test"]),
        y_test=np.reshape(arrays["y_test"], (-1,)).astype(np.int64),
        source=source, sha256=sha, split_seed=split_seed)
