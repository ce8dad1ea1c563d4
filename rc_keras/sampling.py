"""Uniform sampling in the hypercube B(x, r) clipped to [0, 1].

Paper, section 5.1: the region of an input x is the hypercube
B(x, r) = {y : |y_j - x_j| <= r and y_j in [0, 1]}, so each coordinate of a
sampled point is uniform on [max(0, x_j - r), min(1, x_j + r)] (a point mass
at x_j when r = 0), independently of the other coordinates.

Samples are indexed by (example, sample index j in [0, m)). Sample indices
are grouped in rounds of `round_size` (the voting of `rc_keras.voting` checks
its stopping rule between rounds). Where the noise comes from:

* ``seed=None`` (fresh): every point gets fresh uniform noise from TF's
  stateful kernel generator, created with seed 0/0 so that the kernel seeds
  itself from the operating system. It does not depend on the global TF seed
  (``tf.random.set_seed``, ``keras.utils.set_random_seed``), so no call,
  process or exported SavedModel ever replays the noise of another.
* ``seed=<int>`` (reproducible): sample j of round k uses row j of the block
  ``stateless_uniform((round_size, D), fold_in((0, seed), k))``, the same for
  every example of every batch (common random numbers). The points of an
  example are therefore a function of (x, r, seed, round_size, j) alone: they
  do not depend on batching, on the other examples, on how many samples
  are drawn in all, or on the call (same seed, same input -> same points,
  in every call and every process, before and after saving).
"""
import tensorflow as tf


def _fresh_uniform(shape):
    # seed=seed2=0 on the raw op: the kernel seeds itself from OS entropy; the
    # global TF seed, which the Python wrappers would fold in, is not used.
    return tf.raw_ops.RandomUniform(shape=shape, dtype=tf.float32, seed=0, seed2=0)


class BoxSampler:
    """The sampled points of one batch of inputs, drawn inside ``tf.function``.

    Args:
        x: float32 tensor (N, H, W, C) (any per-example shape) in [0, 1].
        radius: float32 scalar tensor r >= 0, half the side of the hypercube,
            in pixel-value units (pixels lie in [0, 1]).
        round_size: samples per round (int >= 1), which fixes the seeded
            noise stream (see the module docstring).
        seed: None for fresh noise on every call, or an int for
            reproducible noise.
    """

    def __init__(self, x, radius, round_size, seed=None):
        self.image_shape = tf.shape(x)[1:]
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        self.dim = tf.shape(flat)[1]
        self.lower = tf.maximum(flat - radius, 0.0)                      # (N, D)
        self.width = tf.minimum(flat + radius, 1.0) - self.lower        # (N, D), >= 0
        self.round_size = round_size
        self.seed = None if seed is None else tf.constant([0, seed], tf.int64)

    def noise(self, round_index, offsets):
        """Uniform [0, 1) noise (P, D) for sample ``round_index * round_size + offsets``."""
        if self.seed is None:
            return _fresh_uniform(tf.stack([tf.size(offsets), self.dim]))
        key = tf.random.experimental.stateless_fold_in(self.seed, round_index)
        block = tf.random.stateless_uniform(tf.stack([self.round_size, self.dim]), key)
        return tf.gather(block, offsets)

    def points(self, round_index, examples, offsets):
        """Sampled points (P, H, W, C) in B(x_e, r) and in [0, 1].

        Args:
            round_index: int32 scalar, the round k.
            examples: int32 (P,), the example e of each point.
            offsets: int32 (P,), the sample's index within round k.
        """
        u = self.noise(round_index, offsets)
        flat = tf.gather(self.lower, examples) + u * tf.gather(self.width, examples)
        flat = tf.clip_by_value(flat, 0.0, 1.0)  # float rounding only
        return tf.reshape(flat, tf.concat([tf.shape(examples), self.image_shape], 0))
