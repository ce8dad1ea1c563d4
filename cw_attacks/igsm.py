"""Iterative Gradient Sign Method (Kurakin et al., 2017) with a search for the smallest eps.

T-IGSM (paper eq. 3): x'_0 = x, x'_{N+1} = Clip_{x,eps}(x'_N - alpha * sign(grad J(x'_N, t))),
alpha = 1/256, J the softmax cross-entropy of the logits; every iterate is
also clipped to [0, 1]. With ``targeted=False`` it ascends J(x, y) on the true
label (plain U-IGSM; the paper's U-IGSM is T-IGSM over every wrong target,
`cw_attacks.compose.untargeted_from_targeted`).

Each step is cleverhans' `fast_gradient_method` of size alpha followed by the
projection onto the eps ball, i.e. the loop body of cleverhans'
`basic_iterative_method`. That function itself is not used: it takes one
scalar eps for the whole batch, runs a fixed number of steps with no early
stop, and with its default ``sanity_checks=True`` it fails under TF 2.21
("ValueError: setting an array element with a sequence. The requested array
has an inhomogeneous shape after 1 dimensions."); with a per-example eps
tensor it fails on its ``assert eps_iter <= eps`` ("ValueError: The truth
value of an array with more than one element is ambiguous.").

Iterations: as Kurakin et al., min(eps/alpha + 4, 1.25 * eps/alpha) steps
(their min(eps + 4, 1.25 eps) with eps in pixel units), rounded up, per
example; an example stops at its first success ("until finding a successful
adversarial example or reaching the maximum number of iterations", paper
section 2.2). eps is searched per example (`cw_attacks.eps_search`).
"""
import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method

from cw_attacks.base import DEFAULT_BATCH_SIZE, check_positive, is_adversarial
from cw_attacks.eps_search import EpsSearchAttack

STEP_SIZE = 1 / 256


def igsm_perturb(model, x, labels, eps, targeted=True, step_size=STEP_SIZE):
    """IGSM at a fixed L∞ radius per example, stopping each example at its first success.

    Args:
        model: Keras model, images (N, H, W, C) in [0, 1] -> logits (N, K).
        x: (N, H, W, C) float32 in [0, 1].
        labels: (N,) int targets (targeted) or true labels (untargeted).
        eps: (N,) float L∞ radius per example (pixel scale [0, 1]).
        targeted: descend J(x, t) (eq. 3) if True, ascend J(x, y) if False.
        step_size: alpha, the L∞ size of one step.

    Returns:
        (x_adv (N, H, W, C) float32 tensor, success (N,) bool tensor, steps (N,) int32 tensor).
    """
    return _igsm_perturb(model, tf.convert_to_tensor(x, tf.float32),
                         tf.convert_to_tensor(labels, tf.int64),
                         tf.convert_to_tensor(eps, tf.float32), bool(targeted), float(step_size))


@tf.function(reduce_retracing=True)
def _igsm_perturb(model, x, labels, eps, targeted, step_size):
    """The loop of `igsm_perturb`; the cleverhans step is ``basic_iterative_method``'s body."""
    budget = tf.cast(tf.math.ceil(tf.minimum(eps / step_size + 4, 1.25 * eps / step_size)),
                     tf.int32)
    radius = eps[:, None, None, None]
    x_adv = x
    steps = tf.zeros_like(budget)
    for _ in tf.range(tf.reduce_max(budget)):
        reached = is_adversarial(model(x_adv, training=False), labels, targeted)
        active = tf.logical_not(reached) & (steps < budget)
        if not tf.reduce_any(active):
            break
        x_next = fast_gradient_method(model, x_adv, step_size, np.inf, clip_min=0.0,
                                      clip_max=1.0, y=labels, targeted=targeted)
        x_next = tf.clip_by_value(x_next, x - radius, x + radius)
        x_adv = tf.where(active[:, None, None, None], x_next, x_adv)
        steps += tf.cast(active, tf.int32)
    return x_adv, is_adversarial(model(x_adv, training=False), labels, targeted), steps


class IGSM(EpsSearchAttack):
    """T-IGSM (or plain U-IGSM) with the smallest-eps search of `cw_attacks.eps_search`.

    Args:
        model: Keras model mapping (N, H, W, C) images in [0, 1] to logits (N, K).
    Keyword-only:
        targeted: labels passed to `attack` are targets (True) or true labels (False).
        eps_grid: increasing L∞ radii in (0, 1]; the default 0.05, 0.10, ..., 0.50,
            0.75, 1.0 is coarse because each try runs up to 1.25 eps/alpha steps.
        bisection_steps: halvings after the grid; the default 5 refines a 0.05
            grid step to 0.0016 < alpha.
        step_size: alpha, L∞ size of one step (paper: 1/256).
        batch_size: examples iterated at once (never changes the results).

    ``iterations`` of the result counts the gradient steps over all eps tried.
    """

    def __init__(self, model, *, targeted=True,
                 eps_grid=tuple(np.arange(1, 11) / 20) + (0.75, 1.0), bisection_steps=5,
                 step_size=STEP_SIZE, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, eps_grid=eps_grid,
                         bisection_steps=bisection_steps, batch_size=batch_size)
        self.step_size = check_positive("step_size", step_size)

    def _perturb(self, x, labels, eps):
        return igsm_perturb(self.model, x, labels, eps, self.targeted, self.step_size)
