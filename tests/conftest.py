"""Shared fixtures. Tests read data from $RC_DATA_DIR (CI: ../shared/datasets)."""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
if "RC_DATA_DIR" not in os.environ and os.path.isdir(_SHARED):
    os.environ["RC_DATA_DIR"] = os.path.abspath(_SHARED)


@pytest.fixture(scope="session")
def mnist():
    """The MNIST `Dataset` (skips when no data directory is available offline)."""
    from models.data import load_dataset
    if not os.environ.get("RC_DATA_DIR"):
        pytest.skip("set RC_DATA_DIR to the folder holding mnist.npz")
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_cnn():
    """A small untrained logits model on 8x8x1 images, deterministic weights."""
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])


@pytest.fixture
def rng():
    return np.random.default_rng(0)
