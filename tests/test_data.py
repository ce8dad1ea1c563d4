import os

import numpy as np
import pytest

import models.data
from models.data import DataError, load_dataset


def test_mnist_splits_shapes_and_range(mnist):
    assert mnist.x_train.shape == (55000, 28, 28, 1)
    assert mnist.x_val.shape == (5000, 28, 28, 1)
    assert mnist.x_test.shape == (10000, 28, 28, 1)
    for x in (mnist.x_train, mnist.x_val, mnist.x_test):
        assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert mnist.y_train.shape == (55000,) and set(np.unique(mnist.y_val)) == set(range(10))
    assert mnist.sha256.startswith("06af5dfe")
    assert mnist.record()["validation"] == 5000


def test_cifar10_splits_and_test_note():
    if not os.environ.get("RC_DATA_DIR"):
        pytest.skip("no offline data")
    data = load_dataset("cifar10")
    assert data.x_train.shape == (45000, 32, 32, 3) and data.x_val.shape == (5000, 32, 32, 3)
    assert data.x_test.shape == (1017, 32, 32, 3)  # the offline copy (its sha256 is checked)
    assert "1,017 of the 10,000 official CIFAR-10 test images" in data.test_note


def test_validation_split_is_seeded_and_disjoint(mnist):
    same = load_dataset("mnist", split_seed=mnist.split_seed)
    other = load_dataset("mnist", split_seed=mnist.split_seed + 1)
    np.testing.assert_array_equal(same.x_val, mnist.x_val)
    assert not np.array_equal(other.y_val, mnist.y_val)
    # train + validation are a partition of the official 60,000 (pixel sums add up)
    total = mnist.x_train.sum(dtype=np.float64) + mnist.x_val.sum(dtype=np.float64)
    both = other.x_train.sum(dtype=np.float64) + other.x_val.sum(dtype=np.float64)
    assert total == pytest.approx(both, rel=1e-9)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"mnist\.npz.*not found"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(DataError, match="sha256"):
        load_dataset("mnist", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="cannot read"):
        load_dataset("mnist", data_dir=str(tmp_path), check_sha256=False)


def test_wrong_shapes_are_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((60000, 28, 27), np.uint8),
             y_train=np.zeros(60000, np.uint8), x_test=np.zeros((10, 28, 28), np.uint8),
             y_test=np.zeros(10, np.uint8))
    with pytest.raises(DataError, match=r"x_train.*shape \(N, 28, 28\)"):
        load_dataset("mnist", data_dir=str(tmp_path), check_sha256=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


class _Downloaded(Exception):
    """Raised by the stand-in for the Keras download, so no test touches the network."""


@pytest.fixture
def no_download(monkeypatch):
    def refuse(name):
        raise _Downloaded(name)
    monkeypatch.setattr(models.data, "_keras_download", refuse)


def test_set_but_missing_data_dir_variable_is_an_error_naming_it(tmp_path, monkeypatch,
                                                                  no_download):
    missing = str(tmp_path / "datasetz")  # a misspelt folder
    monkeypatch.setenv("RC_DATA_DIR", missing)
    with pytest.raises(DataError, match=r"\$RC_DATA_DIR = .*datasetz: no such directory"):
        load_dataset("mnist")
    with pytest.raises(DataError, match=r"data directory .*datasetz: no such directory"):
        load_dataset("mnist", data_dir=missing)


def test_data_dir_variable_without_the_file_is_an_error_not_a_download(tmp_path, monkeypatch,
                                                                       no_download):
    monkeypatch.setenv("RC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"cifar10\.npz: file not found"):
        load_dataset("cifar10")


def test_the_fallback_download_is_announced_on_stderr(monkeypatch, capsys, no_download):
    monkeypatch.delenv("RC_DATA_DIR", raising=False)
    with pytest.raises(_Downloaded):
        load_dataset("mnist")
    err = capsys.readouterr().err
    assert "downloading mnist with Keras" in err and "RC_DATA_DIR" in err
