"""Early-stopped voting: the stopping rules, and agreement with fixed voting."""
import math

import numpy as np
import pytest
import tensorflow as tf

from rc_keras import RegionClassifier
from rc_keras.voting import decided, log_threshold
from toy_models import mean_threshold_model


def _decided(counts, remaining, threshold=math.inf):
    stop = decided(tf.constant(counts, tf.int32), tf.constant(remaining), threshold)
    return stop.numpy().tolist()


def test_exact_rule_stops_only_when_the_leader_cannot_be_overtaken():
    # leader 0 leads by 5 with 5 left: a tie at the end still goes to label 0
    assert _decided([[7, 2, 0]], 5) == [True]
    # leader 1 leads label 0 by 5 with 5 left: label 0 would win the tie
    assert _decided([[2, 7, 0]], 5) == [False]
    assert _decided([[2, 8, 0]], 5) == [True]
    assert _decided([[3, 3, 3]], 0) == [True]     # nothing left: ties go to label 0
    assert _decided([[10, 0, 9]], 2) == [False]


def test_sequential_rule_needs_the_stated_evidence():
    threshold = log_threshold(1e-4, 1000, 24, 10)
    assert threshold == pytest.approx(math.log(41 * 9 / 1e-4))
    unanimous = math.ceil(threshold / math.log(2))
    assert unanimous == 22
    assert _decided([[unanimous, 0, 0]], 900, threshold) == [True]
    assert _decided([[unanimous - 1, 0, 0]], 900, threshold) == [False]
    assert _decided([[28, 4, 0]], 900, threshold) == [False]
    assert _decided([[60, 4, 0]], 900, threshold) == [True]
    assert log_threshold(0.0, 1000, 32, 10) == math.inf
    assert log_threshold(1e-3, 32, 32, 10) == math.inf      # one round: nothing to check


def test_early_stop_gives_fixed_labels_and_saves_passes():
    # one pixel, class 1 iff x > 0.5; inputs from clear-cut to nearly tied
    model = mean_threshold_model((1, 1, 1), 0.5)
    x = np.linspace(0.02, 0.98, 49, dtype=np.float32).reshape(-1, 1, 1, 1)
    fixed = RegionClassifier(model, 0.3, 1000, seed=4)
    early = RegionClassifier(model, 0.3, 1000, seed=4, early_stop=True)
    exact_only = RegionClassifier(model, 0.3, 1000, seed=4, early_stop=True, error_bound=0.0)
    full = fixed.vote_counts(x)
    stopped = early.vote_counts(x)
    np.testing.assert_array_equal(np.argmax(stopped, 1), np.argmax(full, 1))
    np.testing.assert_array_equal(exact_only.predict_labels(x), np.argmax(full, 1))
    assert stopped.sum() < full.sum() / 3
    assert exact_only.vote_counts(x).sum() < full.sum()
    # the same seeded points: early-stopped counts are a prefix of the full vote
    assert np.all(stopped <= full)


def test_exact_rule_never_changes_a_label(tiny_cnn, rng):
    x = rng.uniform(size=(20, 8, 8, 1)).astype(np.float32)
    for radius in (0.1, 0.4):
        full = RegionClassifier(tiny_cnn, radius, 200, seed=2).predict_labels(x)
        exact = RegionClassifier(tiny_cnn, radius, 200, seed=2, early_stop=True,
                                 error_bound=0.0).predict_labels(x)
        np.testing.assert_array_equal(exact, full)
