"""T-FGSM / T-IGSM: cleverhans agreement, eps search, eps ball, untargeted variants."""
import numpy as np
import pytest
import tensorflow as tf
from cleverhans.tf2.attacks.basic_iterative_method import basic_iterative_method
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method

from cw_attacks import FGSM, IGSM
from cw_attacks.fgsm import fgsm_perturb
from cw_attacks.igsm import igsm_perturb


@pytest.fixture
def batch(tiny_cnn, rng):
    """8 images, the model's labels and targets = label + 1."""
    x = rng.uniform(size=(8, 8, 8, 1)).astype(np.float32)
    labels = np.argmax(tiny_cnn(x), axis=1)
    return x, labels, (labels + 1) % 10


def test_fgsm_step_is_eq2_and_cleverhans(tiny_cnn, batch):
    x, _, targets = batch
    eps = np.linspace(0.01, 0.3, len(x)).astype(np.float32)
    ours, _ = fgsm_perturb(tiny_cnn, x, targets, eps)
    theirs = fast_gradient_method(tiny_cnn, x, eps[:, None, None, None], np.inf, clip_min=0.0,
                                  clip_max=1.0, y=targets, targeted=True)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, tiny_cnn(x_t))
    eq2 = np.clip(x - eps[:, None, None, None] * np.sign(tape.gradient(loss, x_t)), 0, 1)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_allclose(ours.numpy(), eq2, atol=1e-6)


def test_targeted_attacks_reach_the_target(tiny_cnn, batch):
    x, _, targets = batch
    for attack in (FGSM(tiny_cnn), IGSM(tiny_cnn)):
        result = attack.attack(x, targets)
        assert result.success.mean() >= 0.75, type(attack).__name__
        predicted = np.argmax(tiny_cnn(result.adversarial), axis=1)
        np.testing.assert_array_equal(predicted[result.success], targets[result.success])
        assert np.all(result.adversarial >= 0) and np.all(result.adversarial <= 1)


def test_eps_search_beats_a_fixed_large_eps(tiny_cnn, batch):
    x, _, targets = batch
    searched = FGSM(tiny_cnn).attack(x, targets)
    fixed = FGSM(tiny_cnn, eps_grid=(1.0,), bisection_steps=0).attack(x, targets)
    both = searched.success & fixed.success
    assert both.sum() >= 4
    assert np.all(searched.linf[both] <= fixed.linf[both])
    assert searched.linf[both].mean() < 0.5 * fixed.linf[both].mean()
    assert np.all(searched.iterations[searched.success] > 1)


def test_igsm_stays_in_eps_ball_and_box(tiny_cnn, batch):
    x, _, targets = batch
    eps = np.linspace(0.02, 0.2, len(x)).astype(np.float32)
    x_adv, success, steps = (t.numpy() for t in igsm_perturb(tiny_cnn, x, targets, eps))
    assert np.all(np.abs(x_adv - x).max(axis=(1, 2, 3)) <= eps + 1e-6)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    budget = np.ceil(np.minimum(eps * 256 + 4, 1.25 * eps * 256))
    assert np.all(steps <= budget) and np.all(steps[~success] == budget[~success])


def test_igsm_matches_cleverhans_bim_where_it_never_stops_early(tiny_cnn, batch):
    x, _, targets = batch
    eps = 4 / 256  # 5 steps of 1/256
    x_adv, success, steps = (t.numpy() for t in igsm_perturb(
        tiny_cnn, x, targets, np.full(len(x), eps, np.float32)))
    bim = basic_iterative_method(tiny_cnn, x, eps, 1 / 256, 5, np.inf, clip_min=0.0, clip_max=1.0,
                                 y=targets, targeted=True, sanity_checks=False).numpy()
    assert (~success).sum() >= 2
    np.testing.assert_allclose(x_adv[~success], bim[~success], atol=1e-6)


def test_plain_untargeted_variants_change_the_label(tiny_cnn, batch):
    x, labels, _ = batch
    for attack in (FGSM(tiny_cnn, targeted=False), IGSM(tiny_cnn, targeted=False)):
        result = attack.attack(x, labels)
        assert result.success.all()
        assert np.all(np.argmax(tiny_cnn(result.adversarial), axis=1) != labels)


@pytest.mark.parametrize("kwargs", [{"eps_grid": ()}, {"eps_grid": (0.2, 0.1)},
                                    {"eps_grid": (0.5, 1.5)}, {"bisection_steps": -1},
                                    {"bisection_steps": 2.5}])
def test_bad_search_parameters_are_refused(tiny_cnn, kwargs):
    with pytest.raises(ValueError):
        FGSM(tiny_cnn, **kwargs)


def test_bad_step_size_is_refused(tiny_cnn):
    with pytest.raises(ValueError, match="step_size"):
        IGSM(tiny_cnn, step_size=0)
