"""EOT-CW-L2: the CW-L2 objective averaged over a region-based classifier's samples.

The adaptive minimum-L2 attack on a region-based classifier (RC, duck
typing, `cw_attacks.region_target`). Our CW-L2 engine (`CarliniL2`) with its
loss term replaced: at every Adam iteration each example's candidate x'
gets S = ``eot_samples`` fresh points of the RC's own sampling distribution
(``rc.sample_points``, reparametrised so gradients reach x'), and

    loss = ||x' - x||_2^2 + c * mean_{s=1..S} f(y_s(x')),

f the CW hinge on the base model's logits (targeted or untargeted). The
engine's success test (which drives the binary search on c and the best
candidate) is the S-sample plurality vote reaching the goal with a vote
margin (`vote_margin`: winner's minus runner-up's fraction of the S votes)
above ``vote_confidence``; the result is then judged by the RC's full
vote (``predict_labels``): an example counts only if that vote reaches the
goal too. A minimum-L2
search ends on the RC's decision boundary, where the full vote is a coin
toss, and keeps the smallest iterate whose few samples happened to pass:
with vote_confidence 0 most of its candidates fail the full vote, hence the
default 0.5 (e.g. 12 of 16 votes against 4; on a toy RC 0.25 still lost
half of the examples to the full vote, 0.5 none).

Randomness: ``seed=None`` draws fresh noise each iteration; with an int the
n-th iteration of the attack's TF loop draws noise number n of that seed
(common to the examples running together), so a run is reproducible for
the same inputs and ``batch_size``.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, check_positive
from cw_attacks.cw_common import margin_loss
from cw_attacks.l2 import CarliniL2
from cw_attacks.region_target import RegionAware, carlini_l2_settings, check_seed, vote_margin


class EOTCarliniL2(RegionAware, CarliniL2):
    """EOT-CW-L2 on a region-based classifier (on a point model: CW-L2 with k = 0).

    Args: ``model`` an RC (``sample_points``, ``predict_labels``,
    ``base_model`` returning logits), or a logits model (then S = 1, the
    image itself, and the vote margin is +-1: plain CW-L2); keyword-only:
    those of `CarliniL2`
    (its defaults, targeted by default), and
        eot_samples: S >= 1, points per iteration and example.
        vote_confidence: in [0, 1), the S-sample vote margin an iterate needs
            to count as a candidate (default 0.5).
        seed: None (fresh noise) or an int >= 0 (see the module docstring).
    """

    def __init__(self, model, *, targeted=True, learning_rate=1e-2, max_iterations=10000,
                 initial_const=1e-3, binary_search_steps=9, abort_early=True, confidence=0.0,
                 eot_samples=16, vote_confidence=0.5, seed=None, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, **carlini_l2_settings(locals()))
        self.eot_samples = check_positive("eot_samples", eot_samples, integer=True)
        if (isinstance(vote_confidence, bool)
                or not isinstance(vote_confidence, (int, float, np.number))
                or not 0 <= vote_confidence < 1):
            raise ValueError(f"vote_confidence must lie in [0, 1), got {vote_confidence!r}")
        self.vote_confidence = float(vote_confidence)
        self.seed = check_seed(seed)
        self._draw = tf.Variable(0, dtype=tf.int32, trainable=False)

    def _margin_term(self, images, labels):
        """Mean hinge over S sampled points; success: S-sample vote margin > vote_confidence."""
        logits = self._sampled_logits(images, self.eot_samples, self.seed,
                                      self._draw.assign_add(1))
        flat = tf.reshape(logits, [-1, tf.shape(logits)[2]])
        term = margin_loss(flat, tf.repeat(labels, self.eot_samples), self.targeted,
                           self.confidence)
        return (tf.reduce_mean(tf.reshape(term, [-1, self.eot_samples]), axis=1),
                vote_margin(logits, labels, self.targeted) > self.vote_confidence)

    def _attack(self, x, labels):
        self._draw.assign(0)
        return self._judged(x, labels, super()._attack(x, labels))

    def __repr__(self):
        return (f"EOTCarliniL2({'targeted' if self.targeted else 'untargeted'}, "
                f"eot_samples={self.eot_samples})")
