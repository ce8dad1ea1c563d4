"""What the three Carlini–Wagner attacks (L2, L0, L∞) share.

Convention: images are float32 in [0, 1] (the reference works in
[-0.5, 0.5]; same range length, so the noise norms are the same). The change
of variables is x' = (tanh(w) + 1) / 2, and an image x enters tanh space as
arctanh((2x - 1) * 0.9999995), the reference's arctanh(x_ref * 1.999999)
shifted to [0, 1].

All three attacks run many independent inner problems ("solves": one Adam
run for one example, with its own constant c, start point, mask or tau) at
once. `CarliniAttack` holds the engine:

- a `tf.function` (`_advance`) that steps every running solve with its own
  Adam moments and step count (`adam_step`), freezes a solve the moment it
  ends, and returns to Python once a few solves have ended;
- a Python loop (`_drive`) that hands each ended solve to the attack's own
  decision rule (binary search on c, pixel fixing, tau update), which either
  starts the example's next solve or retires the example, and keeps up to
  `batch_size` examples in flight: a retired example's slot goes to the next
  pending one (continuous batching), so the batch stays full until the
  pending examples run out. `_drive` yields the examples retired by each
  call, which `attack_stream` turns into results as they finish.

An example's sequence of decisions is therefore the one it would follow
alone: nothing in an example's loss or update reads another example (the
model is called with training=False, so batch statistics are never used).
tests/test_cw_reference.py checks this against line-by-line ports of the
reference.

Where we differ from carlini/nn_robust_attacks, and why:
- CW-L2 aborts early per example; the reference with batch_size > 1 tests
  the loss summed over its batch, so one example's progress could stop or
  prolong another's. Ours equals the reference with batch_size=1.
- Untargeted success with confidence k asks argmax(Z + k * onehot(y)) != y;
  the reference subtracts k from Z_y there as in the targeted case, which
  accepts images still classified as y. Identical for k = 0.
- CW-L2's abort checkpoint is every max(1, max_iterations // 10) iterations
  (the reference divides by zero below 10 iterations).
- CW-L0 and CW-L∞ have no abort_early flag: the reference always stops at
  the first success by default, and its abort_early=False path (success
  only when step == c - 1) never succeeds for non-integer c.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, Attack, check_positive
from cw_attacks.result import AttackResult

TANH_SHRINK = 1.999999 / 2   # the reference's arctanh(x * 1.999999), for x in [-0.5, 0.5]
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8   # tf.train.AdamOptimizer defaults
# A call of the tf.function returns to Python once this fraction of its running
# solves has ended (at least one), so finished examples idle only briefly.
RETURN_FRACTION = 0.1


def to_tanh_space(x):
    """Images (N, H, W, C) in [0, 1] -> w with (tanh(w) + 1) / 2 ~= x; float32, finite."""
    return np.arctanh((2.0 * np.asarray(x, np.float64) - 1.0) * TANH_SHRINK).astype(np.float32)


def from_tanh_space(w):
    """w (any shape, float32) -> images (tanh(w) + 1) / 2 in [0, 1]."""
    return (tf.tanh(w) + 1.0) / 2.0


def squared_l2(a, b):
    """Per-example squared L2 distance of two (N, H, W, C) batches -> (N,)."""
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])


def margin_loss(logits, labels, targeted, margin):
    """The reference's loss term on logits (N, K) -> (N,), >= 0.

    Targeted: max(0, max_{i != t} Z_i - Z_t + margin); untargeted (labels are
    the true classes): max(0, Z_y - max_{i != y} Z_i + margin). `margin` is
    the confidence k of CW-L2, 0.01 in CW-L0 and 0 in CW-L∞.
    """
    onehot = tf.one_hot(labels, tf.shape(logits)[1], dtype=logits.dtype)
    real = tf.reduce_sum(onehot * logits, axis=1)
    other = tf.reduce_max((1.0 - onehot) * logits - onehot * 10000.0, axis=1)
    gap = other - real if targeted else real - other
    return tf.maximum(0.0, gap + margin)


def adam_step(w, grad, m, v, t, learning_rate):
    """One Adam update (tf.train.AdamOptimizer's rule) per example.

    w, grad, m, v: (N, H, W, C) float32; t: (N,) float32, updates already
    applied to each example. Returns the new (w, m, v, t). Each example has
    its own step count, hence its own bias correction.
    """
    t = t + 1.0
    m = ADAM_BETA1 * m + (1.0 - ADAM_BETA1) * grad
    v = ADAM_BETA2 * v + (1.0 - ADAM_BETA2) * tf.square(grad)
    rate = learning_rate * tf.sqrt(1.0 - ADAM_BETA2 ** t) / (1.0 - ADAM_BETA1 ** t)
    return w - per_example(rate, w) * m / (tf.sqrt(v) + ADAM_EPSILON), m, v, t


def per_example(values, like):
    """Reshape (N,) values to broadcast against `like` (N, ...)."""
    return tf.reshape(values, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def select(condition, a, b):
    """Per-example choice: a where condition (N,) holds, else b (any (N, ...) shape)."""
    return tf.where(per_example(condition, a) if a.shape.rank > 1 else condition, a, b)


def advance_const(step, const, ended, max_iterations, const_factor, largest_const):
    """The constant schedule of CW-L0 and CW-L∞, after one iteration.

    Mirrors ``while c < largest: for step in range(max_iterations): ...;
    c *= const_factor``: a solve that has not `ended` and used up its
    iterations multiplies c by `const_factor` and restarts its count, keeping
    its iterate and Adam moments; it fails once c >= largest_const.
    step (N,) int32, const (N,) float64, ended (N,) bool.
    Returns (step, const, failed).
    """
    step = step + 1
    round_over = (step >= max_iterations) & ~ended
    const = tf.where(round_over, const * const_factor, const)
    step = tf.where(round_over, tf.zeros_like(step), step)
    return step, const, round_over & (const >= largest_const)


class CarliniAttack(Attack):
    """Base of CarliniL2, CarliniL0 and CarliniLinf: validation and the batched engine.

    Keyword-only args shared by the three attacks (besides `Attack`'s
    ``targeted`` and ``batch_size``: examples run at once, never changing
    the results):
        learning_rate: Adam step size (in tanh space).
        max_iterations: Adam iterations per value of c.
        initial_const: first c.

    `attack` returns an `AttackResult` whose ``iterations`` counts the
    gradient evaluations (Adam iterations) each example used; failed
    examples keep x. `attack_stream` yields examples as the engine retires
    them (the batch refilled from the pending ones), with the same results.
    Subclasses define `_iteration` (one Adam iteration of every running
    solve, in TF) and `_start` (initial state, the per-example decision rule
    applied when a solve ends, and where the outcome is kept); `_logits` is
    the one place the model is called inside a solve.
    """

    def __init__(self, model, *, targeted=True, learning_rate, max_iterations, initial_const,
                 batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, batch_size=batch_size)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.max_iterations = check_positive("max_iterations", max_iterations, integer=True)
        self.initial_const = check_positive("initial_const", initial_const)
        self._advance = tf.function(self._advance_impl, reduce_retracing=True)

    def _attack(self, x, labels):
        state, solve_ended, outcome = self._start(x, labels.astype(np.int32))
        for _ in self._drive(state, solve_ended):
            pass
        adversarial, success = outcome()
        return AttackResult.from_images(x, adversarial, success, state["iterations"])

    def _stream(self, x, labels):
        if type(self)._attack is not CarliniAttack._attack:
            # A subclass post-processes whole results (e.g. judges them by another
            # classifier): one item, through its `_attack`.
            return super()._stream(x, labels)
        return self._retired_results(x, labels)

    def _retired_results(self, x, labels):
        """(rows, `AttackResult`) of the examples retired by each engine call, as they retire."""
        state, solve_ended, outcome = self._start(x, labels.astype(np.int32))
        for rows in self._drive(state, solve_ended):
            adversarial, success = outcome()
            yield rows, AttackResult.from_images(x[rows], adversarial[rows], success[rows],
                                                 state["iterations"][rows])

    def _solve_state(self, images, labels, **extra):
        """Fresh engine state for `images`: zero modifier and Adam moments, plus `extra`."""
        zeros = np.zeros_like(images)
        n = len(images)
        return {"w": zeros, "m": zeros.copy(), "v": zeros.copy(), "t": np.zeros(n, np.float32),
                "done": np.zeros(n, bool), "iterations": np.zeros(n, np.int64),
                "labels": labels, **extra}

    @staticmethod
    def _restart(state, i, **updates):
        """Start example i's next solve: modifier and Adam reset (as the reference's init)."""
        for key in ("w", "m", "v"):
            state[key][i] = 0.0
        state["t"][i] = 0.0
        state["done"][i] = False
        for key, value in updates.items():
            state[key][i] = value

    def _drive(self, state, solve_ended):
        """Run every example's solves until `solve_ended` retires it; a generator.

        state: dict of per-example numpy arrays (first axis N), updated in
        place. solve_ended(state, i) -> bool is called when example i's solve
        ends; it either restarts the example (`_restart`) and returns True, or
        returns False to retire it. At most `batch_size` examples run at once;
        a retired example's slot goes to the next pending example (in order).
        Yields, after each `_advance` call that retired some, their indices
        (k,) int64 (ascending); every example is yielded exactly once, and
        its state rows are final when it is.
        """
        n = len(state["w"])
        running = list(range(min(self.batch_size, n)))
        admitted = len(running)
        while running:
            idx = np.asarray(running)
            min_ended = max(1, int(np.ceil(RETURN_FRACTION * len(idx))))
            out = self._advance({k: v[idx] for k, v in state.items()}, tf.constant(min_ended))
            for key, value in out.items():
                state[key][idx] = value.numpy()
            retired = [i for i in idx[state["done"][idx]] if not solve_ended(state, i)]
            if retired:
                gone = set(retired)
                running = [i for i in running if i not in gone]
                refill = min(len(retired), n - admitted)
                running.extend(range(admitted, admitted + refill))
                admitted += refill
                yield np.sort(np.asarray(retired, np.int64))

    def _advance_impl(self, state, min_ended):
        """Iterate all solves in `state` until at least `min_ended` have ended."""
        def body(state, ended):
            frozen = state["done"]
            new = self._iteration(state)
            new = {k: state[k] if new[k] is state[k] else select(frozen, state[k], new[k])
                   for k in state}   # constants (inputs, labels) need no select
            new["iterations"] = state["iterations"] + tf.cast(~frozen, tf.int64)
            return new, ended + tf.reduce_sum(tf.cast(new["done"] & ~frozen, tf.int32))

        state, _ = tf.while_loop(lambda state, ended: ended < min_ended, body, (state, 0))
        return state

    def _evaluate(self, w, objective):
        """objective(w) -> (loss (N,), aux); returns (loss, aux, d loss / d w)."""
        with tf.GradientTape() as tape:
            tape.watch(w)
            loss, aux = objective(w)
        return loss, aux, tape.gradient(loss, w)

    def _logits(self, images):
        """Logits (N, K) of images (N, H, W, C) in a solve (override to attack another model)."""
        return self.model(images, training=False)

    def _iteration(self, state):
        raise NotImplementedError

    def _start(self, x, labels):
        """Checked x (N, H, W, C), labels (N,) int32 -> (state, solve_ended, outcome).

        state and solve_ended are `_drive`'s; outcome() -> (adversarial
        (N, H, W, C), success (N,) bool), arrays whose rows are final once
        `_drive` has retired the example.
        """
        raise NotImplementedError


class GrowingConstAttack(CarliniAttack):
    """Base of CarliniL0 and CarliniLinf: each solve grows c until it succeeds.

    Keyword-only args, besides those of `CarliniAttack`:
        initial_const: c of the first solve; later solves start at the c
            that last succeeded.
        largest_const: a solve fails when c reaches this.
        const_factor: > 1, factor by which c grows after `max_iterations`
            iterations without success.
        reduce_const: halve c after each success.
    """

    def __init__(self, model, *, targeted=True, learning_rate, max_iterations, initial_const,
                 largest_const, const_factor, reduce_const, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, learning_rate=learning_rate,
                         max_iterations=max_iterations, initial_const=initial_const,
                         batch_size=batch_size)
        self.largest_const = check_positive("largest_const", largest_const)
        if self.largest_const <= self.initial_const:
            raise ValueError(f"largest_const must exceed initial_const, got {largest_const!r}")
        self.const_factor = check_positive("const_factor", const_factor)
        if self.const_factor <= 1:
            raise ValueError(f"const_factor must be > 1, got {const_factor!r}")
        self.reduce_const = bool(reduce_const)

    def _advance_const(self, s, ended):
        """`advance_const` with this attack's schedule; returns (step, const, failed)."""
        return advance_const(s["step"], s["const"], ended, self.max_iterations, self.const_factor,
                             self.largest_const)

    def _next_const(self, const):
        """The c the next solve starts from, after a success at `const`."""
        return const / 2 if self.reduce_const else const
