"""Fast Gradient Sign Method (Goodfellow et al., 2015) with a search for the smallest eps.

T-FGSM (paper eq. 2): x' = clip(x - eps * sign(grad_x J(x, t)), 0, 1), with J
the softmax cross-entropy of the logits (the training cost) and t the target.
With ``targeted=False`` this is the plain untargeted ascent
x' = clip(x + eps * sign(grad_x J(x, y)), 0, 1) on the true label y; the
paper's U-FGSM is instead T-FGSM over every wrong target
(`cw_attacks.compose.untargeted_from_targeted`).

The gradient step is cleverhans' `fast_gradient_method` (cleverhans 4.0,
``cleverhans.tf2``), which works with TF 2.21 / Keras 3 models and takes a
per-example eps. Its ``targeted=True`` negates the loss and then ADDS
eps * sign(grad), i.e. it subtracts eps * sign(grad_x J(x, t)) as in eq. 2.

The paper searches eps for the smallest value that succeeds (failure if none
does). `search_smallest_eps`, shared with IGSM, does this per example and
batched:

1. grid: the values of ``eps_grid`` are tried in increasing order, each on
   the examples that have not succeeded yet; an example leaves the grid at
   its first success, with hi = that value and lo = the grid value before it
   (0 for the first);
2. bisection: ``bisection_steps`` times, every example that succeeded tries
   mid = (lo + hi) / 2; success sets hi = mid and keeps that image, failure
   sets lo = mid.

The adversarial image returned is the one found at the final hi. Success need
not be monotone in eps, so hi is the smallest successful eps on the grid,
refined to within (hi - lo) / 2**bisection_steps of a failing eps below it,
not necessarily the global minimum.
"""
import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method

from cw_attacks.cw_common import DEFAULT_BATCH_SIZE, check_logits, is_adversarial
from cw_attacks.result import AttackResult
from models.checks import check_images, check_labels, model_input_shape


def check_attack_inputs(model, x, labels):
    """Check a batch for ``model``; return (x (N, H, W, C) float32, labels (N,) int64).

    Raises the errors of `check_images` (dtype, shape, NaN, range),
    `check_logits` (a model that outputs probabilities) and `check_labels`
    (shape, labels outside [0, K) for K model outputs), and ValueError for an
    empty batch.
    """
    x = check_images(x, expected_shape=model_input_shape(model))
    if not len(x):
        raise ValueError("x holds no images: an attack needs at least one")
    return x, check_labels(labels, len(x), check_logits(model, x, DEFAULT_BATCH_SIZE).shape[1])


def search_smallest_eps(attack_at, x, labels, eps_grid, bisection_steps):
    """Per example, the smallest eps for which ``attack_at`` succeeds (see the module doc).

    Args:
        attack_at: callable (x, labels, eps) -> (x_adv, success, steps), NumPy
            in and out, with eps (n,) one value per example, success (n,) bool
            and steps (n,) the gradient steps spent.
        x: (N, H, W, C) float32 images in [0, 1].
        labels: (N,) int targets (or true labels for an untargeted attack).
        eps_grid: increasing L∞ radii in (0, 1] tried before the bisection.
        bisection_steps: halvings of the interval around the first success.

    Returns:
        (x_adv (N, H, W, C), the image at the smallest successful eps or x;
        success (N,) bool; steps (N,) int, summed over all tries).
    """
    n = len(x)
    x_adv, found = x.copy(), np.zeros(n, bool)
    lo, hi = np.zeros(n), np.full(n, np.nan)
    steps = np.zeros(n, np.int64)

    def attempt(index, eps):
        adv, ok, spent = attack_at(x[index], labels[index], eps)
        steps[index] += spent
        x_adv[index[ok]] = adv[ok]
        hi[index[ok]] = eps[ok]
        lo[index[~ok]] = eps[~ok]
        return ok

    for eps in eps_grid:
        index = np.flatnonzero(~found)
        if not len(index):
            break
        found[index[attempt(index, np.full(len(index), eps))]] = True
    index = np.flatnonzero(found)
    for _ in range(bisection_steps if len(index) else 0):
        attempt(index, (lo[index] + hi[index]) / 2)
    return x_adv, found, steps


def check_eps_grid(eps_grid, bisection_steps):
    """Validate an eps search's parameters; return the grid as a float tuple."""
    grid = tuple(float(e) for e in eps_grid)
    if not grid or any(not 0 < e <= 1 for e in grid) or list(grid) != sorted(set(grid)):
        raise ValueError(f"eps_grid must be strictly increasing values in (0, 1], got {eps_grid}")
    if isinstance(bisection_steps, bool) or int(bisection_steps) != bisection_steps \
            or bisection_steps < 0:
        raise ValueError(f"bisection_steps must be a non-negative integer, got {bisection_steps!r}")
    return grid


def fgsm_perturb(model, x, labels, eps, targeted=True):
    """One FGSM step of L∞ size ``eps`` per example, clipped to [0, 1].

    Args:
        model: Keras model, images (N, H, W, C) in [0, 1] -> logits (N, K).
        x: (N, H, W, C) float32 in [0, 1].
        labels: (N,) int targets (targeted) or true labels (untargeted).
        eps: (N,) float, one L∞ radius per example.
        targeted: descend J(x, t) (eq. 2) if True, ascend J(x, y) if False.

    Returns:
        (x_adv (N, H, W, C) float32 tensor, success (N,) bool tensor as judged by ``model``).
    """
    return _fgsm_perturb(model, tf.convert_to_tensor(x, tf.float32),
                         tf.convert_to_tensor(labels, tf.int64),
                         tf.convert_to_tensor(eps, tf.float32), bool(targeted))


@tf.function(reduce_retracing=True)
def _fgsm_perturb(model, x, labels, eps, targeted):
    """`fgsm_perturb` on tensors: x (N, H, W, C), labels (N,) int64, eps (N,) float32."""
    x_adv = fast_gradient_method(model, x, eps[:, None, None, None], np.inf, clip_min=0.0,
                                 clip_max=1.0, y=labels, targeted=targeted)
    return x_adv, is_adversarial(model(x_adv, training=False), labels, targeted)


class FGSM:
    """T-FGSM (or plain U-FGSM) with the smallest-eps search of `search_smallest_eps`.

    Args:
        model: Keras model mapping (N, H, W, C) images in [0, 1] to logits (N, K).
        targeted: labels passed to `attack` are targets (True) or true labels (False).
        eps_grid: increasing L∞ radii in (0, 1] (pixel scale [0, 1]); the
            default is 0.01, 0.02, ..., 1.00.
        bisection_steps: halvings after the grid; the default 7 refines a
            0.01 grid step to below 1e-4.
    """

    def __init__(self, model, targeted=True, eps_grid=tuple(np.arange(1, 101) / 100),
                 bisection_steps=7):
        self.model = model
        self.targeted = bool(targeted)
        self.eps_grid = check_eps_grid(eps_grid, bisection_steps)
        self.bisection_steps = int(bisection_steps)

    def attack(self, x, labels):
        """Attack a batch.

        Args:
            x: (N, H, W, C) float32 images in [0, 1].
            labels: (N,) int targets (targeted) or true labels (untargeted).

        Returns:
            `AttackResult`; ``iterations`` counts the gradient steps over all
            eps tried (one per eps for FGSM).
        """
        x, labels = check_attack_inputs(self.model, x, labels)
        x_adv, success, steps = search_smallest_eps(self._attack_at, x, labels, self.eps_grid,
                                                    self.bisection_steps)
        return AttackResult.from_images(x, x_adv, success, steps)

    def _attack_at(self, x, labels, eps):
        x_adv, success = fgsm_perturb(self.model, x, labels, eps, self.targeted)
        return x_adv.numpy(), success.numpy(), 1
