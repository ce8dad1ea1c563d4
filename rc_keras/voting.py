"""Vote counting for region-based classification, with optional early stopping.

Each example's m sampled points are classified in rounds of `round_size`
samples; all points of a round, over all still-voting examples, go through
the base model in pieces of at most `chunk_size` points (the memory bound).

Fixed voting (the paper) classifies all m points of every example.

Early-stopped voting checks, after every round but the last, whether each
example's winner is settled, and stops that example's vote if so. Two rules:

1. Exact rule ("cannot be overtaken"): with R samples left, the leader l
   (lowest label among the most-voted) wins the full m-sample vote even if
   all R remaining samples vote for the same other class j, for every j:
   c_l > c_j + R, or c_l = c_j + R and l < j (ties go to the lowest label).
   Given the same sampled points, this never changes a label.
2. Sequential rule (pairwise sign test): for every other class j, the votes
   cast for l or j are k = c_l + c_j; if class j's region were at least as
   large as l's, c_l ~ Binomial(k, q) with q <= 1/2, and the Chernoff bound
   P(c_l >= observed) <= exp(-k KL(c_l/k || 1/2)) holds. The example stops
   when c_l > c_j and k KL(c_l/k || 1/2) >= ln(1/delta') for every j, where
   delta' = delta / (K (L - 1)), K the number of checks (rounds - 1) and L
   the number of classes. Guarantee, per example: let j* be a class of
   largest region area A_j(x, r); stopping on some l != j* with
   A_l <= A_j* needs the test of (l, j*) to pass at some check, so by a
   union bound over the K checks and the L - 1 labels l, with probability
   at least 1 - delta (`error_bound`) the sequential rule stops only on a
   label of largest area. Examples whose largest areas are close (where a
   1,000-sample vote is itself a coin toss) keep sampling, up to all m.

A unanimous vote stops the sequential rule after ceil(ln(1/delta') / ln 2)
samples (22 for m = 1000, round_size = 24, L = 10, delta = 1e-4), so a
confidently classified example costs one round of 24 forward passes
instead of 1,000.
"""
import math

import tensorflow as tf


def num_rounds(num_samples, round_size):
    """The number of rounds that draw ``num_samples`` samples."""
    return -(-num_samples // round_size)


def log_threshold(error_bound, num_samples, round_size, num_classes):
    """ln(1/delta') of the sequential rule (inf when it is off: delta = 0 or no checks).

    Args:
        error_bound: delta in [0, 1), the per-example probability bound.
        num_samples: m, samples per example.
        round_size: samples per round; checks happen after rounds 1 .. K.
        num_classes: L.
    """
    checks = num_rounds(num_samples, round_size) - 1
    if error_bound == 0 or checks == 0 or num_classes < 2:
        return math.inf
    return math.log(checks * (num_classes - 1) / error_bound)


def decided(counts, remaining, threshold):
    """Which examples' votes may stop (bool (A,)).

    Args:
        counts: int32 (A, L) votes so far.
        remaining: int32 scalar R, samples each example has left to draw.
        threshold: float ln(1/delta') of the sequential rule (inf: exact rule only).
    """
    num_classes = counts.shape[-1]
    leader = tf.argmax(counts, axis=1, output_type=tf.int32)          # lowest label on ties
    lead = tf.gather(counts, leader, batch_dims=1)[:, None]
    labels = tf.range(num_classes, dtype=tf.int32)[None, :]
    others = labels != leader[:, None]
    gap = lead - counts                                                # (A, L) >= 0
    exact = (gap > remaining) | ((gap == remaining) & (labels > leader[:, None]))

    pair = tf.cast(lead + counts, tf.float64)
    share = tf.math.divide_no_nan(tf.cast(lead, tf.float64), pair)
    evidence = pair * (tf.math.xlogy(share, 2 * share) + tf.math.xlogy(1 - share, 2 * (1 - share)))
    sequential = (gap > 0) & (evidence >= threshold)
    return tf.reduce_all(exact | ~others, axis=1) | tf.reduce_all(sequential | ~others, axis=1)


def count_votes(classify, sampler, num_samples, num_classes, round_size, chunk_size,
                early_stop=False, threshold=math.inf):
    """Count the base model's votes over each example's sampled points (in-graph).

    Args:
        classify: callable, points (P, H, W, C) -> int32 labels (P,).
        sampler: a `rc_keras.sampling.BoxSampler` for the batch (N examples).
        num_samples: m >= 1, samples per example (Python int).
        num_classes: L (Python int).
        round_size: samples per round (Python int).
        chunk_size: at most this many points per base-model call (Python int).
        early_stop: stop an example's vote once it is decided (see module doc).
        threshold: ln(1/delta') of the sequential rule, from `log_threshold`.

    Returns:
        int32 (N, L) vote counts; row e sums to the number of points of
        example e that were classified (m with ``early_stop=False``).
    """
    num_examples = tf.shape(sampler.lower)[0]
    rounds = num_rounds(num_samples, round_size)

    def run_round(k, counts, active):
        size = tf.minimum(round_size, num_samples - k * round_size)
        work = tf.size(active) * size

        def run_piece(start, counts):
            flat = tf.range(start, tf.minimum(start + chunk_size, work))
            examples = tf.gather(active, flat // size)
            labels = classify(sampler.points(k, examples, flat % size))
            counts = tf.tensor_scatter_nd_add(
                counts, tf.stack([examples, labels], axis=1), tf.ones_like(labels))
            return start + chunk_size, counts

        _, counts = tf.while_loop(lambda start, _: start < work, run_piece,
                                  (tf.constant(0), counts))
        if early_stop:
            remaining = tf.maximum(num_samples - (k + 1) * round_size, 0)
            active = active[~decided(tf.gather(counts, active), remaining, threshold)]
        return k + 1, counts, active

    _, counts, _ = tf.while_loop(
        lambda k, _, active: (k < rounds) & (tf.size(active) > 0), run_round,
        (tf.constant(0), tf.zeros(tf.stack([num_examples, num_classes]), tf.int32),
         tf.range(num_examples)),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, num_classes]),
                          tf.TensorShape([None])))
    return counts
