"""RegionClassifier and its sampler: boxes, uniformity, areas, seeds, input errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_keras import BoxSampler, RegionClassifier
from toy_models import mean_threshold_model


def _points(x, radius, num, seed=None):
    """``num`` sampled points per example of x (N, H, W, C): (N, num, H, W, C)."""
    sampler = BoxSampler(tf.constant(x), tf.constant(radius, tf.float32), num, seed)
    examples = tf.repeat(tf.range(len(x)), num)
    offsets = tf.tile(tf.range(num), [len(x)])
    return sampler.points(0, examples, offsets).numpy().reshape((len(x), num) + x.shape[1:])


@pytest.mark.parametrize("seed", [None, 3])
def test_samples_lie_in_the_clipped_box(rng, seed):
    x = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 0.0, 1.0
    r = 0.3
    p = _points(x, r, 500, seed)
    lower, upper = np.maximum(x - r, 0)[:, None], np.minimum(x + r, 1)[:, None]
    assert p.min() >= 0 and p.max() <= 1
    assert np.all(p >= lower - 1e-6) and np.all(p <= upper + 1e-6)
    # the box is filled: samples reach near both ends of every coordinate
    assert np.all(p.min(axis=1) - lower[:, 0] < 0.05) and np.all(upper[:, 0] - p.max(axis=1) < 0.05)


@pytest.mark.parametrize("seed", [None, 5])
def test_samples_are_uniform(seed):
    # pixel 0 at 0.5, r = 0.25 -> U[0.25, 0.75]; pixel 1 at 0.1, r = 0.3 -> U[0, 0.4] (clipped)
    x = np.array([0.5, 0.1], np.float32).reshape(1, 1, 2, 1)
    p = _points(x, 0.25, 20000, seed)[0, :, 0, 0, 0]
    assert abs(p.mean() - 0.5) < 0.005 and abs(p.var() - 0.5 ** 2 / 12) < 0.001
    q = _points(x, 0.3, 20000, seed)[0, :, 0, 1, 0]
    assert abs(q.mean() - 0.2) < 0.005 and abs(q.var() - 0.4 ** 2 / 12) < 0.001
    hist, _ = np.histogram(q, bins=8, range=(0, 0.4))
    assert np.all(np.abs(hist / len(q) - 1 / 8) < 0.01)


def test_seeded_samples_do_not_depend_on_the_batch(rng):
    x = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    alone = _points(x[1:2], 0.2, 64, seed=7)[0]
    batched = _points(x, 0.2, 64, seed=7)[1]
    np.testing.assert_array_equal(alone, batched)
    assert not np.array_equal(alone, _points(x[1:2], 0.2, 64, seed=8)[0])


def test_radius_zero_is_the_point_prediction(tiny_cnn, rng):
    x = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32)
    rc = RegionClassifier(tiny_cnn, 0.0, num_samples=50)
    counts = rc.vote_counts(x)
    point = np.argmax(tiny_cnn.predict(x, verbose=0), axis=1)
    np.testing.assert_array_equal(np.argmax(counts, axis=1), point)
    assert np.all(counts.max(axis=1) == 50)
    np.testing.assert_array_equal(_points(x, 0.0, 3)[:, 1], x)


def test_vote_fractions_match_region_areas():
    # one pixel, class 1 iff x > 0.5: the class-1 area of the box [lo, hi] is known
    model = mean_threshold_model((1, 1, 1), 0.5)
    x = np.array([0.4, 0.9, 0.05, 0.5], np.float32).reshape(4, 1, 1, 1)
    r = np.array([0.2, 0.3, 0.5, 0.1])
    expected = []
    for value, radius in zip(x.ravel(), r):
        lo, hi = max(0, value - radius), min(1, value + radius)
        expected.append(max(0.0, hi - max(lo, 0.5)) / (hi - lo))
    rc = RegionClassifier(model, 0.0, 4000, seed=1)
    fractions = []
    for i, radius in enumerate(r):
        rc.radius = radius
        fractions.append(rc(x[i:i + 1]).numpy()[0, 1])
    np.testing.assert_allclose(fractions, expected, atol=0.025)  # 3 sigma at m = 4000


def test_output_is_vote_fractions_and_softmax_base_gives_the_same(tiny_cnn, rng):
    x = rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    rc = RegionClassifier(tiny_cnn, 0.2, num_samples=64, seed=3)
    fractions = rc.predict(x, verbose=0)
    assert fractions.shape == (4, 10) and np.allclose(fractions.sum(axis=1), 1)
    np.testing.assert_allclose(fractions * 64, rc.vote_counts(x), atol=1e-4)
    np.testing.assert_array_equal(rc.predict_labels(x), np.argmax(rc(x).numpy(), axis=1))
    softmax = keras.Sequential([tiny_cnn, keras.layers.Softmax()])
    np.testing.assert_array_equal(
        RegionClassifier(softmax, 0.2, num_samples=64, seed=3).vote_counts(x), rc.vote_counts(x))


def test_seed_reproduces_and_fresh_noise_differs(tiny_cnn, rng):
    x = rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    seeded = RegionClassifier(tiny_cnn, 0.5, num_samples=200, seed=11)
    again = RegionClassifier(tiny_cnn, 0.5, num_samples=200, seed=11)
    np.testing.assert_array_equal(seeded.vote_counts(x), again.vote_counts(x))
    np.testing.assert_array_equal(seeded.vote_counts(x), seeded.vote_counts(x, batch_size=1))
    fresh = RegionClassifier(tiny_cnn, 0.5, num_samples=200)
    tf.random.set_seed(0)  # the global seed must not make the fresh noise repeat
    first = fresh.vote_counts(x)
    tf.random.set_seed(0)
    assert not np.array_equal(first, fresh.vote_counts(x))


def test_chunk_size_bounds_the_points_per_forward_pass(tiny_cnn, rng):
    class Bounded(RegionClassifier):
        def _classify(self, points):
            with tf.control_dependencies([tf.debugging.assert_less_equal(tf.shape(points)[0], 48)]):
                return super()._classify(points)

    x = rng.uniform(size=(5, 8, 8, 1)).astype(np.float32)
    counts = Bounded(tiny_cnn, 0.2, num_samples=100, chunk_size=48).vote_counts(x)
    assert np.all(counts.sum(axis=1) == 100)  # 5 x 100 points, at most 48 per forward pass


BAD_INPUTS = [
    (np.zeros((2, 9, 8, 1), np.float32), ValueError, "shape"),
    (np.zeros((2, 8, 8), np.float32), ValueError, "shape"),
    (np.zeros((2, 8, 8, 1), np.uint8), TypeError, "float"),
    (np.full((2, 8, 8, 1), 1.5, np.float32), ValueError, r"\[0, 1\]"),
    (np.full((2, 8, 8, 1), -0.01, np.float32), ValueError, r"\[0, 1\]"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), ValueError, "NaN"),
    (np.full((2, 8, 8, 1), np.inf, np.float32), ValueError, "NaN or Inf"),
]


@pytest.mark.parametrize("x, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(tiny_cnn, x, error, match):
    rc = RegionClassifier(tiny_cnn, 0.1, num_samples=4)
    for method in (rc.vote_counts, rc.predict_labels, rc.predict, rc):
        with pytest.raises(error, match=match):
            method(x)


def test_graph_mode_checks(tiny_cnn):
    rc = RegionClassifier(tiny_cnn, 0.1, num_samples=4)
    graph = tf.function(lambda x: rc(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        graph(tf.fill((1, 8, 8, 1), 2.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        graph(tf.fill((1, 8, 8, 1), np.nan))
    with pytest.raises(ValueError, match="shape"):
        graph(tf.zeros((1, 9, 8, 1)))
    with pytest.raises(TypeError, match="float"):
        graph(tf.zeros((1, 8, 8, 1), tf.int32))
    assert graph(tf.fill((1, 8, 8, 1), 0.5)).shape == (1, 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"radius": -0.1}, "radius"), ({"radius": float("nan")}, "radius"),
    ({"num_samples": 0}, "num_samples"), ({"num_samples": 2.5}, "num_samples"),
    ({"chunk_size": 0}, "chunk_size"), ({"round_size": 0}, "round_size"),
    ({"seed": -1}, "seed"), ({"error_bound": 1.0}, "error_bound"),
    ({"early_stop": "yes"}, "early_stop"),
])
def test_bad_parameters_raise(tiny_cnn, kwargs, match):
    args = {"radius": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        RegionClassifier(tiny_cnn, **args)


def test_radius_setter_validates(tiny_cnn):
    rc = RegionClassifier(tiny_cnn, 0.1, num_samples=4)
    with pytest.raises(ValueError, match="radius"):
        rc.radius = -1
    rc.radius = 0.25
    assert rc.radius == 0.25 and rc.get_config()["radius"] == 0.25


def test_base_model_must_be_a_keras_model():
    with pytest.raises(TypeError, match="keras.Model"):
        RegionClassifier(lambda x: x, 0.1)
