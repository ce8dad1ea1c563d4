"""Behaviour of CarliniL2, CarliniL0 and CarliniLinf on a tiny untrained model.

(Exact agreement with the reference code is tested in test_cw_reference.py.)
"""
import numpy as np
import pytest

from cw_attacks.l0 import CarliniL0
from cw_attacks.l2 import CarliniL2
from cw_attacks.linf import CarliniLinf

QUICK = {
    CarliniL2: dict(learning_rate=0.05, binary_search_steps=5, max_iterations=60,
                    initial_const=1.0),
    CarliniL0: dict(learning_rate=0.05, max_iterations=30, initial_const=0.1, largest_const=10.0),
    CarliniLinf: dict(learning_rate=0.02, max_iterations=30, initial_const=0.01, largest_const=5.0),
}


def logits(model, x):
    return np.asarray(model(x, training=False))


@pytest.fixture(scope="module")
def examples(tiny_cnn):
    x = np.random.default_rng(2).random((4, 8, 8, 1)).astype(np.float32)
    predicted = logits(tiny_cnn, x).argmax(1)
    return x, (predicted + np.arange(1, 5)) % 10, predicted


@pytest.fixture(scope="module")
def targeted_results(tiny_cnn, examples):
    """Each attack's result batched, and one example at a time on the first 2."""
    x, targets, _ = examples
    return {cls: (cls(tiny_cnn, **params).attack(x, targets),
                  cls(tiny_cnn, batch_size=1, **params).attack(x[:2], targets[:2]))
            for cls, params in QUICK.items()}


@pytest.mark.parametrize("cls", list(QUICK), ids=lambda c: c.__name__)
def test_targeted_attack_reaches_its_targets(tiny_cnn, examples, targeted_results, cls):
    x, targets, _ = examples
    result = targeted_results[cls][0]
    assert result.success.all()
    assert (logits(tiny_cnn, result.adversarial).argmax(1) == targets).all()
    assert result.adversarial.dtype == np.float32
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert (result.iterations > 0).all() and (result.l2 > 0).all()


@pytest.mark.parametrize("independent_channels", [False, True])
def test_l0_on_colour_images(independent_channels):
    import keras
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    x = np.random.default_rng(3).random((2, 6, 6, 3)).astype(np.float32)
    targets = (logits(model, x).argmax(1) + 1) % 10
    result = CarliniL0(model, independent_channels=independent_channels,
                       **QUICK[CarliniL0]).attack(x, targets)
    assert result.success.all()
    assert (logits(model, result.adversarial).argmax(1) == targets).all()
    assert (result.l0 < 18).all()   # of 36 pixels


@pytest.mark.parametrize("cls", list(QUICK), ids=lambda c: c.__name__)
def test_batched_equals_one_at_a_time(targeted_results, cls):
    batched, single = targeted_results[cls]
    n = len(single)
    np.testing.assert_array_equal(batched.success[:n], single.success)
    np.testing.assert_array_equal(batched.iterations[:n], single.iterations)
    np.testing.assert_array_equal(batched.l0[:n], single.l0)
    np.testing.assert_allclose(batched.adversarial[:n], single.adversarial, atol=1e-3)


def test_l0_changes_few_pixels(targeted_results):
    l0 = targeted_results[CarliniL0][0].l0
    assert l0.max() <= 32 and l0.mean() <= 12   # of 64 pixels
    assert (l0 < targeted_results[CarliniL2][0].l0).all()


def test_linf_shrinks_tau_below_first_solution(tiny_cnn, examples, targeted_results):
    """Later solves (tau < first L∞) give a smaller L∞ than the first success alone."""
    x, targets, _ = examples
    first_only = CarliniLinf(tiny_cnn, **{**QUICK[CarliniLinf], "decrease_factor": 1 / 300})
    result, first = targeted_results[CarliniLinf][0], first_only.attack(x, targets)
    # decrease_factor 1/300 stops after the first success (tau <= 1/256)
    assert first.success.all() and (first.iterations <= result.iterations).all()
    assert (result.linf < first.linf).all()


def test_l2_keeps_the_smallest_success_over_the_binary_search(tiny_cnn, examples):
    x, targets, _ = examples
    params = {**QUICK[CarliniL2], "initial_const": 0.01}
    results = [CarliniL2(tiny_cnn, **{**params, "binary_search_steps": steps}).attack(x, targets)
               for steps in (3, 5)]
    assert results[0].success.any()
    # later binary-search steps can only improve the kept result, never lose it
    assert (results[1].success >= results[0].success).all()
    both = results[0].success
    assert (results[1].l2[both] <= results[0].l2[both] + 1e-6).all()


def test_untargeted_linf_changes_the_label(tiny_cnn, examples):
    x, _, predicted = examples
    result = CarliniLinf(tiny_cnn, targeted=False, **QUICK[CarliniLinf]).attack(x, predicted)
    assert result.success.all()
    assert (logits(tiny_cnn, result.adversarial).argmax(1) != predicted).all()


@pytest.mark.parametrize("targeted", [True, False])
def test_l2_confidence_margin(tiny_cnn, examples, targeted):
    """Success means a logit gap of at least k; untargeted: the label changed by k."""
    x, targets, predicted = examples
    labels = targets if targeted else predicted
    k = 0.5
    attack = CarliniL2(tiny_cnn, targeted=targeted, confidence=k, **QUICK[CarliniL2])
    result = attack.attack(x, labels)
    assert result.success.any()
    z = logits(tiny_cnn, result.adversarial[result.success]).astype(np.float64)
    rows = np.arange(len(z))
    label = labels[result.success]
    own = z[rows, label]
    z[rows, label] = -np.inf
    gap = own - z.max(1) if targeted else z.max(1) - own
    assert (gap >= k - 1e-4).all()


# ---------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def softmax_model():
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize("cls", list(QUICK), ids=lambda c: c.__name__)
def test_softmax_model_is_rejected_at_construction(softmax_model, cls):
    with pytest.raises(ValueError, match="softmax"):
        cls(softmax_model)


@pytest.mark.parametrize("x, labels, error, match", [
    (np.zeros((2, 8, 8), np.float32), [1, 2], ValueError, "shape"),
    (np.zeros((2, 9, 9, 1), np.float32), [1, 2], ValueError, "model takes"),
    (np.full((2, 8, 8, 1), 1.5, np.float32), [1, 2], ValueError, r"\[0, 1\]"),
    (np.full((2, 8, 8, 1), -0.1, np.float32), [1, 2], ValueError, r"\[0, 1\]"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), [1, 2], ValueError, "NaN"),
    (np.zeros((2, 8, 8, 1), np.uint8), [1, 2], TypeError, "float"),
    (np.zeros((2, 8, 8, 1), np.float32), [1, 10], ValueError, "labels"),
    (np.zeros((2, 8, 8, 1), np.float32), [-1, 2], ValueError, "labels"),
    (np.zeros((2, 8, 8, 1), np.float32), [1, 2, 3], ValueError, "labels"),
    (np.zeros((2, 8, 8, 1), np.float32), [1.0, 2.0], TypeError, "labels"),
])
@pytest.mark.parametrize("cls", list(QUICK), ids=lambda c: c.__name__)
def test_bad_inputs_raise_clear_errors(tiny_cnn, cls, x, labels, error, match):
    with pytest.raises(error, match=match):
        cls(tiny_cnn).attack(x, np.asarray(labels))


@pytest.mark.parametrize("cls, kwargs, match", [
    (CarliniL2, {"learning_rate": 0}, "learning_rate"),
    (CarliniL2, {"confidence": -1}, "confidence"),
    (CarliniL2, {"binary_search_steps": 0}, "binary_search_steps"),
    (CarliniL2, {"max_iterations": 2.5}, "max_iterations"),
    (CarliniL2, {"batch_size": 0}, "batch_size"),
    (CarliniL0, {"const_factor": 1.0}, "const_factor"),
    (CarliniL0, {"largest_const": 1e-4}, "largest_const"),
    (CarliniLinf, {"decrease_factor": 1.0}, "decrease_factor"),
    (CarliniLinf, {"initial_const": -1e-5}, "initial_const"),
])
def test_bad_parameters_raise(tiny_cnn, cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(tiny_cnn, **kwargs)


def test_empty_batch_is_refused(tiny_cnn):
    with pytest.raises(ValueError, match="no images"):
        CarliniL2(tiny_cnn).attack(np.zeros((0, 8, 8, 1), np.float32), np.zeros(0, int))
