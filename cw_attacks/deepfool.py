"""DeepFool (Moosavi-Dezfooli et al., 2016): untargeted, L2.

At the current image x_i, with y the true label, Z the logits and for every
class k != y: f_k = Z_k - Z_y, w_k = grad Z_k - grad Z_y. The linearised
nearest boundary is l = argmin_k |f_k| / ||w_k||_2, the step
r_i = (|f_l| / ||w_l|| + 1e-4) * w_l / ||w_l|| (the reference code's 1e-4),
and the next image is x_{i+1} = clip(x + (1 + overshoot) * sum_j r_j, 0, 1),
where the clip keeps images in [0, 1] (the reference works on unbounded
inputs). Every example stops as soon as the model misclassifies it, or after
``max_iterations`` steps. All classes are candidates (the reference's
top-10 for 10-class data). Examples are batched, and an example leaves the
batch once fooled; the Jacobian costs one backward pass per class.
"""
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, Attack, check_positive, in_batches, is_adversarial
from cw_attacks.result import AttackResult


class DeepFool(Attack):
    """DeepFool (untargeted only: the labels are the true labels).

    Args:
        model: Keras model mapping (N, H, W, C) images in [0, 1] to logits (N, K).
    Keyword-only:
        targeted: must be False (the default).
        overshoot: relative overshoot (> 0) of the accumulated step (reference: 0.02).
        max_iterations: steps per example at most (reference: 50).
        batch_size: examples linearised at once (never changes the results).

    ``iterations`` of the result counts the linearisation steps; success is
    any prediction but the true label.
    """

    norm = "l2"
    can_target = False

    def __init__(self, model, *, targeted=False, overshoot=0.02, max_iterations=50,
                 batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, batch_size=batch_size)
        self.overshoot = check_positive("overshoot", overshoot)
        self.max_iterations = check_positive("max_iterations", max_iterations, integer=True)

    def _attack(self, x, labels):
        x_adv, success, steps = in_batches(
            lambda x, y: _deepfool(self.model, tf.constant(x), tf.constant(y), self.overshoot,
                                   self.max_iterations, self.num_classes),
            self.batch_size, x, labels)
        return AttackResult.from_images(x, x_adv, success, steps)


@tf.function(reduce_retracing=True)
def _deepfool(model, x, labels, overshoot, max_iterations, num_classes):
    """x (B, H, W, C) in [0, 1], labels (B,), K classes -> (x_adv, success (B,), steps (B,)).

    Each step linearises only the examples still classified correctly, so a
    batch costs what its examples need, not B times its slowest example.
    """
    flat = [-1, num_classes, x.shape[1] * x.shape[2] * x.shape[3]]
    total = tf.zeros_like(x)
    x_adv = x
    steps = tf.zeros(tf.shape(labels), tf.int32)
    remaining = tf.range(tf.shape(labels)[0])  # indices of the examples not yet fooled
    for _ in tf.range(max_iterations):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=[(remaining, tf.TensorShape([None]))])
        x_now, labels_now = tf.gather(x_adv, remaining), tf.gather(labels, remaining)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x_now)
            logits = model(x_now, training=False)
            per_class = tf.unstack(logits, num_classes, axis=1)
        jacobian = tf.reshape(tf.stack([tape.gradient(z, x_now) for z in per_class], 1), flat)
        del tape
        active = tf.logical_not(is_adversarial(logits, labels_now, False))
        remaining, jacobian, logits, labels_now = (tf.boolean_mask(t, active) for t in
                                                   (remaining, jacobian, logits, labels_now))
        if tf.size(remaining) == 0:
            break
        w = jacobian - tf.gather(jacobian, labels_now, batch_dims=1)[:, None, :]
        f = logits - tf.gather(logits, labels_now, batch_dims=1)[:, None]
        w_norm = tf.norm(w, axis=2) + 1e-12
        is_label = tf.one_hot(labels_now, num_classes, on_value=True, off_value=False)
        distance = tf.where(is_label, float("inf"), tf.abs(f) / w_norm)
        nearest = tf.argmin(distance, axis=1, output_type=tf.int32)
        length = tf.gather(distance, nearest, batch_dims=1) + 1e-4
        unit = (tf.gather(w, nearest, batch_dims=1)
                / tf.gather(w_norm, nearest, batch_dims=1)[:, None])
        step = tf.reshape(length[:, None] * unit, tf.concat([[-1], tf.shape(x)[1:]], 0))
        total = tf.tensor_scatter_nd_add(total, remaining[:, None], step)
        x_adv = tf.clip_by_value(x + (1 + overshoot) * total, 0.0, 1.0)
        steps = tf.tensor_scatter_nd_add(steps, remaining[:, None], tf.ones_like(remaining))
    return x_adv, is_adversarial(model(x_adv, training=False), labels, False), steps
