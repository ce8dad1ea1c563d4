"""T-JSMA and DeepFool on small models, and the input errors of every non-CW attack."""
import keras
import numpy as np
import pytest

from cw_attacks import FGSM, IGSM, JSMA, DeepFool


@pytest.fixture(scope="module")
def linear():
    """Logits Z = W flatten(x) + b on 6x6x1 images, with known weights."""
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    model.layers[-1].set_weights([rng.normal(size=(36, 10)).astype(np.float32),
                                  0.1 * rng.normal(size=10).astype(np.float32)])
    return model


def test_jsma_reaches_targets_within_budget_by_increasing_pairs(linear, rng):
    x = rng.uniform(0.0, 0.3, size=(12, 6, 6, 1)).astype(np.float32)
    targets = (np.argmax(linear(x), axis=1) + 1 + np.arange(12) % 9) % 10
    gamma = 0.3
    result = JSMA(linear, gamma=gamma, batch_size=5).attack(x, targets)
    assert result.success.mean() >= 0.5
    predicted = np.argmax(linear(result.adversarial), axis=1)
    np.testing.assert_array_equal(predicted[result.success], targets[result.success])
    changed = result.adversarial != x
    assert np.all(result.adversarial >= x)
    assert np.all(result.adversarial[changed] == 1.0)
    assert np.all(result.l0 <= gamma * 36)
    np.testing.assert_array_equal(result.l0[result.success], 2 * result.iterations[result.success])


def test_jsma_budget_on_the_tiny_cnn(tiny_cnn, rng):
    x = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32)
    targets = (np.argmax(tiny_cnn(x), axis=1) + 3) % 10
    result = JSMA(tiny_cnn).attack(x, targets)
    assert np.all(result.iterations <= int(64 * 0.1 // 2))
    assert np.all(result.l0 <= 6) and np.all(result.adversarial >= x)


def test_deepfool_on_a_linear_model_is_the_exact_minimum_times_the_overshoot(linear, rng):
    x = (0.5 + 0.02 * rng.normal(size=(10, 6, 6, 1))).astype(np.float32)
    weights, bias = linear.layers[-1].get_weights()
    logits = x.reshape(10, -1) @ weights + bias
    labels = np.argmax(logits, axis=1)
    # distance to the closest face of the label's (convex) region
    exact = np.array([min(abs(logits[i, k] - logits[i, y])
                          / np.linalg.norm(weights[:, k] - weights[:, y])
                          for k in range(10) if k != y) for i, y in enumerate(labels)])
    assert exact.max() < 0.3  # the step stays inside [0, 1]: no clipping
    result = DeepFool(linear).attack(x, labels)
    assert result.success.all() and np.all(result.iterations == 1)
    np.testing.assert_allclose(result.l2, 1.02 * (exact + 1e-4), rtol=1e-4)


def test_deepfool_misclassifies_with_small_noise(tiny_cnn, rng):
    x = rng.uniform(size=(8, 8, 8, 1)).astype(np.float32)
    labels = np.argmax(tiny_cnn(x), axis=1)
    result = DeepFool(tiny_cnn, max_iterations=50).attack(x, labels)
    assert result.success.all() and np.all(result.iterations <= 50)
    assert np.all(np.argmax(tiny_cnn(result.adversarial), axis=1) != labels)
    assert result.l2.mean() < 1.0


def _softmax_model():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize("make", [FGSM, IGSM, JSMA, DeepFool], ids=lambda c: c.__name__)
def test_bad_inputs_are_refused_with_clear_errors(make, tiny_cnn, rng):
    x = rng.uniform(size=(3, 8, 8, 1)).astype(np.float32)
    labels = np.array([1, 2, 3])
    attack = make(tiny_cnn)
    with pytest.raises(ValueError, match="shape"):
        attack.attack(x[:, :4], labels)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack.attack(x + 1, labels)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        attack.attack(x, np.array([1, 2, 10]))
    with pytest.raises(ValueError, match="shape"):
        attack.attack(x, labels[:2])
    with pytest.raises(TypeError):
        attack.attack((x * 255).astype(np.uint8), labels)
    with pytest.raises(ValueError, match="softmax"):
        make(_softmax_model())


@pytest.mark.parametrize("make, kwargs", [(JSMA, {"gamma": 0}), (JSMA, {"gamma": 1.5}),
                                          (JSMA, {"batch_size": 0}), (DeepFool, {"overshoot": -1}),
                                          (DeepFool, {"max_iterations": 0})])
def test_bad_parameters_are_refused(make, kwargs, tiny_cnn):
    with pytest.raises(ValueError):
        make(tiny_cnn, **kwargs)
