"""OptMargin (He, Li & Song, ICLR 2018): CW-L2 whose example survives region noise.

A port of ``CarliniL2Ensemble`` (``sunblaze-ucb/decision-boundaries``,
``mnist/l2_attack_ensemble.py``) onto our CW-L2 engine (`CarliniL2`). For
each example, minimise over x' = (tanh(w) + 1) / 2

    ||x' - x||_2^2 + c * sum_{i=1..V} f(clip(x' + v_i, 0, 1)),

f the CW hinge (untargeted: max(0, Z_y - max_{j != y} Z_j + k)), with V =
``noise_count`` fixed noise vectors: V - 1 orthogonal directions (QR of a
Gaussian (D, V) matrix) each scaled to per-pixel RMS ``noise_mag``
(||v_i||_2 = sqrt(D) * noise_mag), and v_V = 0, the centre. A candidate
counts only when all V copies reach the goal; the smallest-L2 candidate over
the binary search on c is kept (CW-L2's rule). Their MNIST settings are the
defaults: 20 copies, noise_mag 0.3, 4 binary-search steps, 1,000
iterations, learning rate 0.2, initial c 0.2, untargeted.

Given a region-based classifier (duck typing, `cw_attacks.region_target`),
the copies go through its base model and the final success is the RC's full
vote on the result; given a point model, success is the all-copies test.

Deviations from their code, and why:
- Copies are clipped to [0, 1] before classification; theirs classify the
  unclipped x' + v_i (their clipped tensor is computed and never used), i.e.
  images outside the domain that neither the model nor the RC ever sees.
- The distance term is ||x' - x||_2^2 on the [0, 1] scale; theirs divides it
  by 255^2 (a leftover of a 0..255 pipeline), which makes their c act like
  255^2 * c here: their run barely minimises the noise. Our c=0.2 start and
  binary search then find smaller examples; pass initial_const=0.2 * 255**2
  to mimic theirs.
- Noise vectors come from ``seed`` (theirs: NumPy's global state), and the
  centre copy is always the last (theirs too: "keep center").
- The engine's per-example early abort and success test are those of our
  `CarliniL2` (cw_common's documented differences with the reference), not
  their batch-summed abort.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, check_positive, is_adversarial
from cw_attacks.cw_common import margin_loss
from cw_attacks.l2 import CarliniL2
from cw_attacks.region_target import RegionAware, carlini_l2_settings, check_seed
from models.checks import model_input_shape


def orthogonal_noise(shape, count, noise_mag, rng):
    """``count`` noise images (count, *shape) float32: orthogonal, per-pixel RMS noise_mag, last 0.

    The first count - 1 are columns of Q from the QR decomposition of a
    Gaussian (D, count) matrix, scaled to L2 norm sqrt(D) * noise_mag; the
    last is the zero vector (the centre copy). Needs count <= D.
    """
    dim = int(np.prod(shape))
    if count > dim:
        raise ValueError(f"noise_count must be at most the image size {dim}, got {count}")
    unit, _ = np.linalg.qr(rng.normal(size=(dim, count)))
    vectors = (unit * np.sqrt(dim) * noise_mag).T.reshape((count, *shape)).astype(np.float32)
    vectors[-1] = 0.0
    return vectors


class OptMargin(RegionAware, CarliniL2):
    """OptMargin on a point model or a region-based classifier.

    Keyword-only args: those of `CarliniL2` (with He et al.'s MNIST defaults,
    untargeted), and
        noise_count: V >= 1 copies, the last being the centre.
        noise_mag: > 0, per-pixel RMS of each noise vector (pixels in [0, 1]).
        seed: None or an int >= 0 for the noise vectors (drawn once, at
            construction, shared by every example and iteration).
    """

    def __init__(self, model, *, targeted=False, learning_rate=0.2, max_iterations=1000,
                 initial_const=0.2, binary_search_steps=4, abort_early=True, confidence=0.0,
                 noise_count=20, noise_mag=0.3, seed=None, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, **carlini_l2_settings(locals()))
        self.noise_count = check_positive("noise_count", noise_count, integer=True)
        self.noise_mag = check_positive("noise_mag", noise_mag)
        rng = np.random.default_rng(check_seed(seed))
        self.noise = tf.constant(orthogonal_noise(model_input_shape(self.model), self.noise_count,
                                                  self.noise_mag, rng))

    def _margin_term(self, images, labels):
        """Sum over the V copies of the hinge, and success = every copy reaches the goal."""
        copies = tf.clip_by_value(images[:, None] + self.noise[None], 0.0, 1.0)  # (N, V, H, W, C)
        logits = self._logits(tf.reshape(copies, tf.concat([[-1], tf.shape(images)[1:]], 0)))
        repeated = tf.repeat(labels, self.noise_count)
        term = margin_loss(logits, repeated, self.targeted, self.confidence)
        reached = is_adversarial(logits, repeated, self.targeted, self.confidence)
        return (tf.reduce_sum(tf.reshape(term, [-1, self.noise_count]), axis=1),
                tf.reduce_all(tf.reshape(reached, [-1, self.noise_count]), axis=1))

    def _attack(self, x, labels):
        return self._judged(x, labels, super()._attack(x, labels))

    def __repr__(self):
        on = "RC" if self.region is not None else "point model"
        return (f"OptMargin({'targeted' if self.targeted else 'untargeted'}, "
                f"noise_count={self.noise_count}, noise_mag={self.noise_mag:g}, on {on})")
