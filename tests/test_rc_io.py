"""RegionClassifier config, .keras save/load, SavedModel export, and model import."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_keras import RegionClassifier, load_base_model


@pytest.fixture
def x(rng):
    return rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)


def test_config_round_trip(tiny_cnn, x):
    rc = RegionClassifier(tiny_cnn, 0.2, 64, chunk_size=100, round_size=16, seed=5,
                          early_stop=True, error_bound=1e-3, name="rc")
    clone = RegionClassifier.from_config(rc.get_config())
    assert clone.get_config() == rc.get_config()
    clone.set_weights(rc.get_weights())
    np.testing.assert_array_equal(clone.vote_counts(x), rc.vote_counts(x))


def test_keras_file_round_trip(tiny_cnn, x, tmp_path):
    rc = RegionClassifier(tiny_cnn, 0.3, 64, seed=9)
    path = str(tmp_path / "rc.keras")
    rc.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, RegionClassifier) and loaded.radius == 0.3
    np.testing.assert_array_equal(loaded.vote_counts(x), rc.vote_counts(x))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), rc.predict(x, verbose=0))


def test_export_samples_in_graph(tiny_cnn, x, tmp_path):
    seeded = RegionClassifier(tiny_cnn, 0.3, 64, seed=9)
    path = str(tmp_path / "seeded")
    seeded.export(path, verbose=False)
    expected = seeded.vote_counts(x) / 64
    loaded = tf.saved_model.load(path)
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, atol=1e-6)
    layer = keras.layers.TFSMLayer(path, call_endpoint="serve")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-6)

    fresh = RegionClassifier(tiny_cnn, 0.5, 64)
    path = str(tmp_path / "fresh")
    fresh.export(path, verbose=False)
    loaded = tf.saved_model.load(path)
    first, second = (loaded.serve(tf.constant(x)).numpy() for _ in range(2))
    np.testing.assert_allclose(first.sum(axis=1), 1, atol=1e-6)
    assert not np.array_equal(first, second)   # the exported graph draws new noise per call


@pytest.mark.parametrize("kind", ["keras", "h5", "saved_model"])
def test_from_file(tiny_cnn, x, tmp_path, kind):
    path = str(tmp_path / {"keras": "m.keras", "h5": "m.h5", "saved_model": "m"}[kind])
    if kind == "saved_model":
        tiny_cnn.export(path, verbose=False)
    else:
        tiny_cnn.save(path)   # .h5: Keras' legacy (Keras 2) HDF5 format
    expected = RegionClassifier(tiny_cnn, 0.2, 32, seed=1).vote_counts(x)
    rc = RegionClassifier.from_file(path, 0.2, 32, seed=1)
    np.testing.assert_array_equal(rc.vote_counts(x), expected)


def test_load_base_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_base_model(str(tmp_path / "missing.keras"))
    (tmp_path / "weights.txt").write_text("")
    with pytest.raises(ValueError, match="unsupported"):
        load_base_model(str(tmp_path / "weights.txt"))
    with pytest.raises(ValueError, match="SavedModel"):
        load_base_model(str(tmp_path))
