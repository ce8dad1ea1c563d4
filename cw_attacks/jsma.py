"""Jacobian-based Saliency Map Attack on logits (Papernot et al., 2016), targeted.

The variant the paper adopts (section 2.2): the saliency map is built from
the Jacobian of the LOGITS Z, not of the softmax. Features are the input
components (pixels x channels); each iteration picks the pair (p, q) of
still-changeable features that maximises

    alpha * |beta|  subject to  alpha > 0, beta < 0,
    alpha = dZ_t/dx_p + dZ_t/dx_q,   beta = sum_{j != t} (dZ_j/dx_p + dZ_j/dx_q),

and sets both features to 1 (theta = 1 in the increasing direction, as
cleverhans' default ``theta=1.0, increase=True``); a changed feature leaves
the search domain, which starts as the features below 1. An example stops
when the model predicts the target, when no pair satisfies the two sign
conditions (where the reference implementations fall back to an arbitrary
pair), or after floor(gamma * n_features / 2) pairs, so at most a fraction
gamma of the features changes. Examples are batched; the pair scores take
batch_size * n_features**2 floats, so large batches are split.

cleverhans 4.0 has no JSMA for TF2 (its TF1 ``SaliencyMapMethod`` is gone).
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import Attack, check_positive, in_batches, is_adversarial
from cw_attacks.result import AttackResult


class JSMA(Attack):
    """Targeted JSMA on logits, increasing feature pairs to 1 (targeted only).

    Args:
        model: Keras model mapping (N, H, W, C) images in [0, 1] to logits (N, K).
    Keyword-only:
        targeted: must be True (the labels are targets).
        gamma: the largest fraction of features (H * W * C) that may change (default 10%).
        batch_size: examples per batch of the pair search (memory ~ 4 *
            batch_size * (H * W * C)**2 bytes per tensor: 39 MB for 16 MNIST images).

    ``iterations`` of the result counts the feature pairs changed.
    """

    norm = "l0"
    can_untarget = False

    def __init__(self, model, *, targeted=True, gamma=0.1, batch_size=16):
        super().__init__(model, targeted=targeted, batch_size=batch_size)
        self.gamma = check_positive("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")

    def _attack(self, x, labels):
        max_pairs = int(np.prod(x.shape[1:]) * self.gamma // 2)
        x_adv, success, pairs = in_batches(
            lambda x, t: _jsma(self.model, tf.constant(x), tf.constant(t), max_pairs),
            self.batch_size, x, labels)
        return AttackResult.from_images(x, x_adv, success, pairs)


@tf.function(reduce_retracing=True)
def _jsma(model, x, targets, max_pairs):
    """One batch: x (B, H, W, C) in [0, 1], targets (B,) -> (x_adv, success, pairs)."""
    n = int(np.prod(x.shape[1:]))  # static: the image shape is fixed per trace
    features = tf.reshape(x, [-1, n])
    domain = features < 1.0
    off_diagonal = tf.logical_not(tf.eye(n, dtype=tf.bool))
    pairs = tf.zeros(tf.shape(targets), tf.int32)
    for _ in tf.range(max_pairs):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(features)
            logits = model(tf.reshape(features, tf.shape(x)), training=False)
            target_logit = tf.gather(logits, targets, batch_dims=1)
            all_logits = tf.reduce_sum(logits, axis=1)
        grad_target = tape.gradient(target_logit, features)
        grad_other = tape.gradient(all_logits, features) - grad_target
        del tape
        alpha = grad_target[:, :, None] + grad_target[:, None, :]
        beta = grad_other[:, :, None] + grad_other[:, None, :]
        admissible = (domain[:, :, None] & domain[:, None, :] & off_diagonal
                      & (alpha > 0) & (beta < 0))
        scores = tf.reshape(tf.where(admissible, -alpha * beta, 0.0), [-1, n * n])
        reached = is_adversarial(logits, targets, True)
        active = tf.logical_not(reached) & (tf.reduce_max(scores, axis=1) > 0)
        if not tf.reduce_any(active):
            break
        best = tf.argmax(scores, axis=1, output_type=tf.int32)
        change = ((tf.one_hot(best // n, n, on_value=True, off_value=False)
                   | tf.one_hot(best % n, n, on_value=True, off_value=False))
                  & active[:, None])
        features = tf.where(change, 1.0, features)
        domain = domain & tf.logical_not(change)
        pairs += tf.cast(active, tf.int32)
    x_adv = tf.reshape(features, tf.shape(x))
    return x_adv, is_adversarial(model(x_adv, training=False), targets, True), pairs
