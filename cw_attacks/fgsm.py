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

The paper searches eps for the smallest value that succeeds
(`cw_attacks.eps_search`).
"""
import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method

from cw_attacks.base import DEFAULT_BATCH_SIZE, is_adversarial
from cw_attacks.eps_search import EpsSearchAttack


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


class FGSM(EpsSearchAttack):
    """T-FGSM (or plain U-FGSM) with the smallest-eps search of `cw_attacks.eps_search`.

    Args:
        model: Keras model mapping (N, H, W, C) images in [0, 1] to logits (N, K).
    Keyword-only:
        targeted: labels passed to `attack` are targets (True) or true labels (False).
        eps_grid: increasing L∞ radii in (0, 1] (pixel scale [0, 1]); the
            default is 0.01, 0.02, ..., 1.00.
        bisection_steps: halvings after the grid; the default 7 refines a
            0.01 grid step to below 1e-4.
        batch_size: examples per gradient step (never changes the results).

    ``iterations`` of the result counts the gradient steps over all eps
    tried (one per eps for FGSM).
    """

    def __init__(self, model, *, targeted=True, eps_grid=tuple(np.arange(1, 101) / 100),
                 bisection_steps=7, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, eps_grid=eps_grid,
                         bisection_steps=bisection_steps, batch_size=batch_size)

    def _perturb(self, x, labels, eps):
        x_adv, success = fgsm_perturb(self.model, x, labels, eps, self.targeted)
        return x_adv, success, np.ones(len(x), np.int64)
