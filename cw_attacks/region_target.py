"""Attacking a region-based classifier: how an attack sees the defence.

`cw_attacks` does not import `rc_keras`. An attack recognises a region-based
classifier (RC) by duck typing (`is_region_classifier`): an object with

- ``sample_points(x, num_samples, seed=None, draw=0)`` -> (N, S, H, W, C)
  points of the RC's own sampling distribution around each x, differentiable
  in x (reparametrised: y = lo(x) + u * (hi(x) - lo(x)));
- ``predict_labels(x)`` -> (N,) int labels, the RC's full decision (its own
  m, its own noise);
- ``base_model``: the point classifier, images -> logits (N, K).

`RegionAware` is the mixin of the adaptive attacks (EOTPGD, OptMargin,
EOT-CW-L2): given an RC it attacks the RC through the base model's logits
at sampled points (Expectation over Transformation) and judges success with
the RC's full vote, never with the attack's few samples; given a point model
it is the ordinary attack on that model.
"""
import inspect

import numpy as np
import tensorflow as tf

from cw_attacks.l2 import CarliniL2
from cw_attacks.result import AttackResult


def is_region_classifier(model):
    """True for an object with ``sample_points``, ``predict_labels`` and ``base_model``."""
    return all(hasattr(model, name) for name in ("sample_points", "predict_labels", "base_model"))


def check_seed(seed):
    """A seed argument: None, or an int >= 0 (returned as int)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return int(seed)


def carlini_l2_settings(values):
    """The `CarliniL2` keyword arguments found in ``values`` (a subclass constructor's
    ``locals()``), so that a subclass with other defaults forwards them all."""
    names = list(inspect.signature(CarliniL2).parameters)[1:]   # all but the model
    return {name: values[name] for name in names}


def vote_margin(logits, labels, targeted):
    """The plurality vote's margin toward the goal, from per-sample logits.

    Args:
        logits: (N, S, K) logits of S sampled points per example.
        labels: (N,) int targets (targeted) or true labels (untargeted).
        targeted: goal is the target winning (True) or the true label losing.

    Returns:
        (N,) float32 in [-1, 1], the vote-fraction margin: targeted,
        frac_t - max_{j != t} frac_j; untargeted, max_{j != y} frac_j - frac_y.
        > 0 means the S-sample plurality vote reaches the goal (ties, = 0, do
        not count: the RC breaks them toward the lowest label).
    """
    num_classes = tf.shape(logits)[-1]
    votes = tf.reduce_mean(tf.one_hot(tf.argmax(logits, axis=-1), num_classes), axis=1)
    onehot = tf.one_hot(labels, num_classes)
    own = tf.reduce_sum(onehot * votes, axis=1)
    other = tf.reduce_max(votes - 2.0 * onehot, axis=1)
    return own - other if targeted else other - own


class RegionAware:
    """Mixin (listed before `Attack` or `CarliniL2`): attack an RC or a point model.

    After construction:
        ``region``: the RC (None for a point model);
        ``model``: the point classifier whose logits the attack uses (the
            RC's ``base_model``); its logits are checked like any attack's.
    """

    region = None
    # Their noise (EOT samples, random starts, noise vectors) is drawn per batch
    # or shared by the examples running together.
    results_depend_on_batch_size = True

    def _check_model(self, model):
        if is_region_classifier(model):
            self.region, self.model = model, model.base_model
        return super()._check_model(self.model)

    def _sampled_logits(self, images, num_samples, seed=None, draw=0):
        """Logits (N, S, K) of S points sampled in the RC's region of each image.

        For a point model, S = 1: the image itself. images: (N, H, W, C) tensor.
        """
        if self.region is None:
            return self.model(images, training=False)[:, None, :]
        points = self.region.sample_points(images, num_samples, seed=seed, draw=draw)
        flat = tf.reshape(points, tf.concat([[-1], tf.shape(points)[2:]], 0))
        logits = self.model(flat, training=False)
        return tf.reshape(logits, [tf.shape(images)[0], num_samples, -1])

    def _judge(self, images):
        """The attacked classifier's labels (N,) int64 for images (N, H, W, C) in [0, 1]:
        the RC's full vote, or the point model's argmax."""
        images = np.asarray(images, np.float32)
        if not len(images):
            return np.zeros(0, np.int64)
        if self.region is not None:
            return np.asarray(self.region.predict_labels(images), np.int64)
        return np.concatenate([np.argmax(np.asarray(self.model(images[i:i + self.batch_size],
                                                               training=False)), axis=1)
                               for i in range(0, len(images), self.batch_size)]).astype(np.int64)

    def _reaches_goal(self, images, labels):
        """(N,) bool: the attacked classifier's label is the target / not the true label."""
        predicted = self._judge(images)
        return predicted == labels if self.targeted else predicted != labels

    def _judged(self, x, labels, result):
        """``result`` (an `AttackResult` on x) with success re-judged by the RC's full vote.

        An example counts only where the attack's own test (its surrogate)
        passed and the RC's vote reaches the goal; unchanged for a point model.
        """
        if self.region is None:
            return result
        success = result.success.copy()
        success[success] = self._reaches_goal(result.adversarial[success], labels[success])
        return AttackResult.from_images(x, result.adversarial, success, result.iterations)
