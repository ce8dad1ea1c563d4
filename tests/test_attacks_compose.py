"""Compositions: untargeted from targeted, best-of combinations, adapted examples."""
import numpy as np
import pytest

from cw_attacks import (FGSM, IGSM, AttackResult, adapt, combine, model_judge,
                        untargeted_from_targeted, wrong_targets)


def _judge(images):
    """A stand-in classifier: the label is written in pixel (0, 0) as label / 10."""
    return np.rint(images[:, 0, 0, 0] * 10).astype(np.int64)


def _image(label, noise):
    """A 3x3x1 image of class ``label`` whose other pixels carry ``noise``."""
    image = np.full((3, 3, 1), noise, np.float32)
    image[0, 0, 0] = label / 10
    return image


class _StubTargeted:
    """A targeted 'attack' reaching target t with noise 0.1 * t, except the targets in ``fails``."""

    targeted, norm, num_classes = True, "l2", 10

    def __init__(self, fails=()):
        self.fails = set(fails)
        self.calls = []

    def attack(self, x, targets):
        self.calls.append(targets)
        adversarial = np.stack([_image(t, 0.1 * t) for t in targets])
        success = np.array([t not in self.fails for t in targets])
        return AttackResult.from_images(x, adversarial, success, np.ones(len(x)))


def test_wrong_targets_lists_every_other_label_example_major():
    index, targets = wrong_targets(np.array([0, 3]), num_classes=4)
    np.testing.assert_array_equal(index, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(targets, [1, 2, 3, 0, 1, 2])


def test_untargeted_from_targeted_keeps_the_smallest_noise_success():
    x = np.stack([_image(5, 0.0), _image(0, 0.0)])
    attack = _StubTargeted(fails={1})
    result = untargeted_from_targeted(attack, x, np.array([5, 0]), _judge)
    assert len(attack.calls) == 1 and len(attack.calls[0]) == 18   # one batch, 9 targets each
    assert result.success.all()
    # L2 of target t for label y: sqrt(((t - y) / 10)^2 + 8 (0.1 t)^2); target 1 fails.
    # Image 0 (y = 5): t = 0 gives 0.5 < 0.64 for t = 2. Image 1 (y = 0): t = 2 gives 0.6.
    np.testing.assert_array_equal(_judge(result.adversarial), [0, 2])
    np.testing.assert_allclose(result.l2, [0.5, 0.6], atol=1e-6)
    np.testing.assert_array_equal(result.iterations, [9, 9])


def test_untargeted_from_targeted_fails_when_no_target_succeeds():
    x = np.stack([_image(5, 0.0)])
    result = untargeted_from_targeted(_StubTargeted(fails=range(10)), x, np.array([5]), _judge)
    assert not result.success.any()
    np.testing.assert_array_equal(result.adversarial, x)


def test_combine_is_the_judged_best_of_its_parts():
    x = np.stack([_image(1, 0.0)] * 3)
    labels = np.array([7, 7, 7])
    small_wrong = AttackResult.from_images(   # produced, but the judge sees label 8, not 7
        x, np.stack([_image(8, 0.05)] * 3), np.array([True, True, False]), np.ones(3))
    large = AttackResult.from_images(
        x, np.stack([_image(7, 0.3)] * 3), np.array([True, False, False]), np.ones(3))
    small = AttackResult.from_images(
        x, np.stack([_image(7, 0.1)] * 3), np.array([False, True, False]), np.ones(3))
    result = combine([small_wrong, large, small], x, labels, _judge, "l2", targeted=True)
    np.testing.assert_array_equal(result.success, [True, True, False])
    # pixel (0, 0) moves by 0.6, the 8 others by the noise
    np.testing.assert_allclose(result.l2[:2], np.sqrt(0.36 + 8 * np.array([0.3, 0.1]) ** 2),
                               atol=1e-6)
    np.testing.assert_array_equal(result.iterations, [3, 3, 3])
    np.testing.assert_array_equal(result.adversarial[2], x[2])
    untargeted = combine([large, small_wrong], x, np.array([1, 1, 1]), _judge, "l2",
                         targeted=False)
    np.testing.assert_allclose(untargeted.l2[:2], np.sqrt(0.49 + 8 * 0.05 ** 2), atol=1e-6)


def test_combined_gradient_attacks_on_a_model(tiny_cnn, rng):
    x = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32)
    targets = (np.argmax(tiny_cnn(x), axis=1) + 2) % 10
    parts = [FGSM(tiny_cnn).attack(x, targets), IGSM(tiny_cnn).attack(x, targets)]
    result = combine(parts, x, targets, model_judge(tiny_cnn), "linf", targeted=True)
    np.testing.assert_array_equal(result.success, parts[0].success | parts[1].success)
    best = np.min([np.where(p.success, p.linf, np.inf) for p in parts], axis=0)
    np.testing.assert_allclose(result.linf[result.success], best[result.success])


def test_combine_refuses_bad_arguments():
    x = np.stack([_image(1, 0.0)] * 2)
    part = AttackResult.from_images(x, x, np.zeros(2, bool), np.zeros(2))
    with pytest.raises(ValueError, match="norm"):
        combine([part], x, np.array([1, 1]), _judge, "l1", targeted=True)
    with pytest.raises(ValueError, match="2 examples"):
        combine([part], x, np.array([1, 1, 1]), _judge, "l2", targeted=True)
    with pytest.raises(ValueError, match="at least one"):
        combine([], x, np.array([1, 1]), _judge, "l2", targeted=True)


def test_adapt_moves_along_the_noise_and_clips(rng):
    x = rng.uniform(size=(4, 5, 5, 1)).astype(np.float32)
    x_adv = np.clip(x + rng.normal(0, 0.1, size=x.shape), 0, 1).astype(np.float32)
    np.testing.assert_allclose(adapt(x, x_adv, 0.0), x_adv, atol=1e-7)
    adapted = adapt(x, x_adv, 0.5)
    np.testing.assert_allclose(adapted, np.clip(x + 1.5 * (x_adv - x), 0, 1), atol=1e-6)
    assert adapted.dtype == np.float32 and adapted.min() >= 0 and adapted.max() <= 1
    with pytest.raises(ValueError):
        adapt(x, x_adv[:2], 0.5)


def test_untargeted_from_targeted_uses_the_attacks_norm_and_goal(tiny_cnn, rng):
    x = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    true = np.argmax(tiny_cnn(x), axis=1)
    fgsm = FGSM(tiny_cnn)
    result = untargeted_from_targeted(fgsm, x, true, model_judge(tiny_cnn))
    index, targets = wrong_targets(true)
    per_target = fgsm.attack(x[index], targets)   # judged by the same model: success is final
    best = np.where(per_target.success, per_target.linf, np.inf).reshape(2, 9).min(axis=1)
    assert result.success.all()
    np.testing.assert_allclose(result.linf, best)   # L∞, FGSM's norm, not L2
    with pytest.raises(ValueError, match="needs a targeted attack"):
        untargeted_from_targeted(FGSM(tiny_cnn, targeted=False), x, true, model_judge(tiny_cnn))
