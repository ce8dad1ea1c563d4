import os

import numpy as np
import pytest

from models import load_pretrained, pretrained_record


# Every shipped network. Floors sit a little under each one's accuracy on the slice
# (MNIST slices: 99.1%, 98.7%, 98.9%, 97.5%; CIFAR-10: 92.4%, 81.0%, 84.8%), so a broken
# file or loader fails while the slice's sampling noise does not.
SHIPPED = [
    ("mnist", "mnist", 2000, 0.99),
    ("mnist-distilled", "mnist", 2000, 0.98),
    ("mnist-advtrained", "mnist", 2000, 0.98),
    ("mnist-region", "mnist", 2000, 0.965),
    ("cifar10", "cifar10", 500, 0.90),
    ("cifar10-distilled", "cifar10", 500, 0.78),
    ("cifar10-advtrained", "cifar10", 500, 0.82),
]


def test_every_shipped_weights_file_is_checked():
    from models.pretrained import PRETRAINED, WEIGHTS_DIR
    shipped = {name for name in PRETRAINED
               if os.path.exists(os.path.join(WEIGHTS_DIR, f"{name}.keras"))}
    assert shipped == {name for name, *_ in SHIPPED}


@pytest.mark.parametrize("name, dataset, slice_size, floor", SHIPPED)
def test_shipped_weights_are_accurate_on_a_slice(name, dataset, slice_size, floor, request):
    from models.data import load_dataset
    request.getfixturevalue("mnist")  # skips without offline data
    data = load_dataset(dataset)
    model = load_pretrained(name)
    logits = model.predict(data.x_test[:slice_size], batch_size=500, verbose=0)
    assert np.mean(np.argmax(logits, 1) == data.y_test[:slice_size]) >= floor
    record = pretrained_record(name)
    assert record["dataset"]["sha256"] == data.sha256
    assert record["test_accuracy"] >= floor


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="available"):
        load_pretrained("imagenet")


def _corrupt_copies(good, folder):
    """name -> path of corrupt variants of the good .keras file ``good``."""
    data = good.read_bytes()
    flipped = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 200):
        flipped[i] ^= 0xFF
    variants = {"empty": b"", "truncated": data[:len(data) // 2], "not-a-zip": b"\x00" * 300,
                "flipped": bytes(flipped)}
    paths = {}
    for name, content in variants.items():
        paths[name] = folder / f"{name}.keras"
        paths[name].write_bytes(content)
    return paths


def test_corrupt_model_files_are_reported_as_corrupt_naming_the_file(tiny_cnn, tmp_path):
    from rc_keras.loading import load_base_model
    good = tmp_path / "good.keras"
    tiny_cnn.save(good)
    assert load_base_model(str(good)).output_shape == (None, 10)
    for name, path in _corrupt_copies(good, tmp_path).items():
        with pytest.raises(ValueError, match=rf"{name}\.keras: the model file is corrupt"):
            load_base_model(str(path))


def test_a_corrupt_shipped_model_is_an_error_not_a_missing_one(tiny_cnn, tmp_path, monkeypatch):
    import models.pretrained
    tiny_cnn.save(tmp_path / "good.keras")
    (tmp_path / "mnist-distilled.keras").write_bytes(
        (tmp_path / "good.keras").read_bytes()[:1000])
    monkeypatch.setattr(models.pretrained, "WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"mnist-distilled\.keras: the model file is corrupt"):
        load_pretrained("mnist-distilled")
    with pytest.raises(FileNotFoundError, match="not in this checkout"):
        load_pretrained("mnist-advtrained")


def test_experiments_fail_loudly_on_a_corrupt_shipped_model(mnist, tmp_path, monkeypatch):
    """Only an absent network may be skipped; a corrupt one stops the run."""
    import models.pretrained
    from experiments.context import Experiment
    (tmp_path / "mnist-distilled.keras").write_bytes(b"PK\x03\x04 torn")
    monkeypatch.setattr(models.pretrained, "WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"mnist-distilled\.keras: the model file is corrupt"):
        Experiment("mnist", "quick", out=str(tmp_path / "out"), log=lambda *values: None)
