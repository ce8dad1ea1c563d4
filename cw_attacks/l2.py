"""Carlini–Wagner L2 attack (Carlini & Wagner, S&P 2017), as in the reference l2_attack.py.

For each example, minimise ||x' - x||_2^2 + c * f(x') over w, with
x' = (tanh(w) + 1) / 2 and f(x') = max(0, max_{i != t} Z_i - Z_t + k) on the
logits Z, by Adam from w = arctanh-image (modifier 0), for
`binary_search_steps` values of c found by binary search per example; keep
the smallest-L2 successful iterate over the whole run.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, check_positive, is_adversarial
from cw_attacks.cw_common import (CarliniAttack, adam_step, from_tanh_space, margin_loss, select,
                                  squared_l2, to_tanh_space)

NO_UPPER_BOUND = 1e10   # the reference's initial upper bound on c
BOUND_KNOWN = 1e9       # an upper bound below this has been found by a success
ABORT_RATIO = 0.9999    # early abort: the loss must fall below this fraction of its last checkpoint


class CarliniL2(CarliniAttack):
    """Targeted (default) or untargeted CW-L2 with the reference defaults.

    Keyword-only args: those of `CarliniAttack`, and
        confidence: k >= 0, logit margin required for success.
        binary_search_steps: number of values of c tried per example; with
            10 or more, the last step uses the best known upper bound (as the
            reference).
        abort_early: stop a value of c when, at a checkpoint (every
            max_iterations // 10 iterations, at least 1), the example's loss
            has not fallen below 0.9999 of its previous checkpoint.

    Subclasses that attack something other than one logits model (an
    ensemble, an expectation over transformations) override `_margin_term`
    (the loss term f and the success test) or `_logits`.
    """

    norm = "l2"

    def __init__(self, model, *, targeted=True, learning_rate=1e-2, max_iterations=10000,
                 initial_const=1e-3, binary_search_steps=9, abort_early=True, confidence=0.0,
                 batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, learning_rate=learning_rate,
                         max_iterations=max_iterations, initial_const=initial_const,
                         batch_size=batch_size)
        if isinstance(confidence, bool) or not np.isfinite(confidence) or confidence < 0:
            raise ValueError(f"confidence must be a finite number >= 0, got {confidence!r}")
        self.confidence = float(confidence)
        self.binary_search_steps = check_positive("binary_search_steps", binary_search_steps,
                                                  integer=True)
        self.abort_early = bool(abort_early)
        self._checkpoint_every = max(1, self.max_iterations // 10)

    def _margin_term(self, images, labels):
        """The loss term f (N,) >= 0 of images (N, H, W, C) and their success (N,) bool.

        f = max(0, max_{i != t} Z_i - Z_t + k) (targeted; untargeted: see
        `margin_loss`) on the logits Z = `_logits`; success: the logits reach
        the goal with margin k (`is_adversarial`). Differentiable in images.
        """
        logits = self._logits(images)
        return (margin_loss(logits, labels, self.targeted, self.confidence),
                is_adversarial(logits, labels, self.targeted, self.confidence))

    def _iteration(self, s):
        """One Adam iteration of every running binary-search step (reference attack_batch loop)."""
        const = tf.cast(s["const"], tf.float32)

        def objective(w):
            images = from_tanh_space(w + s["start"])
            distance = squared_l2(images, s["x_ref"])
            term, success = self._margin_term(images, s["labels"])
            return const * term + distance, (images, success, distance)

        loss, (images, success, distance), grad = self._evaluate(s["w"], objective)
        checkpoint = tf.equal(s["step"] % self._checkpoint_every, 0)
        aborted = checkpoint & (loss > s["prev"] * ABORT_RATIO) if self.abort_early else \
            tf.zeros_like(checkpoint)
        success = success & ~aborted
        improved = success & (distance < s["best_l2"])
        w, m, v, t = adam_step(s["w"], grad, s["m"], s["v"], s["t"], self.learning_rate)
        step = s["step"] + 1
        return {**s, "w": w, "m": m, "v": v, "t": t, "step": step,
                "prev": tf.where(checkpoint, loss, s["prev"]),
                "step_success": s["step_success"] | success,
                "best_l2": tf.where(improved, distance, s["best_l2"]),
                "best": select(improved, images, s["best"]),
                "done": aborted | (step >= self.max_iterations)}

    def _start(self, x, labels):
        n = len(x)
        start = to_tanh_space(x)
        lower = np.zeros(n)
        upper = np.full(n, NO_UPPER_BOUND)
        steps_done = np.zeros(n, int)
        fresh = {"step": 0, "prev": 1e6, "step_success": False}
        state = self._solve_state(
            x, labels, start=start, x_ref=from_tanh_space(start).numpy(),
            const=np.full(n, self.initial_const), step=np.zeros(n, np.int32),
            prev=np.full(n, fresh["prev"], np.float32), step_success=np.zeros(n, bool),
            best_l2=np.full(n, NO_UPPER_BOUND, np.float32), best=x.copy())

        def step_ended(state, i):
            """The reference's update of c after a binary-search step; True if one follows."""
            const = state["const"][i]
            if state["step_success"][i]:
                upper[i] = min(upper[i], const)
                if upper[i] < BOUND_KNOWN:
                    const = (lower[i] + upper[i]) / 2
            else:
                lower[i] = max(lower[i], const)
                const = (lower[i] + upper[i]) / 2 if upper[i] < BOUND_KNOWN else const * 10
            steps_done[i] += 1
            if steps_done[i] == self.binary_search_steps:
                return False
            if self.binary_search_steps >= 10 and steps_done[i] == self.binary_search_steps - 1:
                const = upper[i]   # the reference repeats the search once at the upper bound
            self._restart(state, i, const=const, **fresh)
            return True

        return state, step_ended, lambda: (state["best"], state["best_l2"] < NO_UPPER_BOUND)
