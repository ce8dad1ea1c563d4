"""Carlini–Wagner L∞ attack (Carlini & Wagner, S&P 2017), as in the reference li_attack.py.

Per example, with tau = 1 and while tau > 1/256:

1. Solve: minimise c * max(0, max_{i != t} Z_i - Z_t) + sum_j max(0,
   |x'_j - x_j| - tau), x' = (tanh(w + s) + 1) / 2, by Adam from w = 0,
   where s is the previous solution in tanh space. After an iteration whose
   loss was below 1e-4 * c, the updated iterate is checked: if the model
   gives it the target (untargeted: not the true class), the solve succeeds
   with it. After `max_iterations` iterations c is multiplied by
   `const_factor` (iterate and Adam moments kept); the solve fails once
   c >= `largest_const`. c carries over to the next solve.
2. On failure stop. On success tau = min(tau, max_j |x'_j - x_j|) *
   `decrease_factor` and solve again from x'.

The result is the last successful solution.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE, check_positive, is_adversarial
from cw_attacks.cw_common import (GrowingConstAttack, adam_step, from_tanh_space, margin_loss,
                                  select, to_tanh_space)

SOLVED_BELOW = 1e-4     # candidate success when the loss is below SOLVED_BELOW * c
SMALLEST_TAU = 1 / 256  # stop once tau is no longer above this


class CarliniLinf(GrowingConstAttack):
    """Targeted (default) or untargeted CW-L∞ with the reference defaults.

    Keyword-only args: those of `GrowingConstAttack`, and
        decrease_factor: in (0, 1), factor applied to tau after each success.
    """

    norm = "linf"

    def __init__(self, model, *, targeted=True, learning_rate=5e-3, max_iterations=1000,
                 initial_const=1e-5, largest_const=20.0, const_factor=2.0, reduce_const=False,
                 decrease_factor=0.9, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, learning_rate=learning_rate,
                         max_iterations=max_iterations, initial_const=initial_const,
                         largest_const=largest_const, const_factor=const_factor,
                         reduce_const=reduce_const, batch_size=batch_size)
        self.decrease_factor = check_positive("decrease_factor", decrease_factor)
        if self.decrease_factor >= 1:
            raise ValueError(f"decrease_factor must lie in (0, 1), got {decrease_factor!r}")

    def _iteration(self, s):
        """One Adam iteration of every running solve (reference doit loop)."""
        def objective(w):
            images = from_tanh_space(w + s["start"])
            term = margin_loss(self._logits(images), s["labels"], self.targeted, 0.0)
            excess = tf.nn.relu(tf.abs(images - s["x_ref"]) - s["tau"][:, None, None, None])
            distance = tf.reduce_sum(excess, axis=[1, 2, 3])
            return tf.cast(s["const"], tf.float32) * term + distance, ()

        loss, _, grad = self._evaluate(s["w"], objective)
        w, m, v, t = adam_step(s["w"], grad, s["m"], s["v"], s["t"], self.learning_rate)
        candidate = tf.cast(loss, tf.float64) < SOLVED_BELOW * s["const"]
        images = from_tanh_space(w + s["start"])
        solved = tf.cond(tf.reduce_any(candidate),
                         lambda: candidate & is_adversarial(self._logits(images), s["labels"],
                                                            self.targeted),
                         lambda: tf.zeros_like(candidate))
        step, const, failed = self._advance_const(s, solved)
        return {**s, "w": w, "m": m, "v": v, "t": t, "step": step, "const": const,
                "solved": solved, "done": solved | failed,
                "solution": select(solved, images, s["solution"])}

    def _start(self, x, labels):
        n = len(x)
        start = to_tanh_space(x)
        tau = np.ones(n)
        found = np.zeros(n, bool)
        last = x.copy()
        state = self._solve_state(
            x, labels, x_ref=from_tanh_space(start).numpy(), start=start,
            tau=tau.astype(np.float32), const=np.full(n, self.initial_const),
            step=np.zeros(n, np.int32), solved=np.zeros(n, bool), solution=x.copy())

        def solve_ended(state, i):
            """The reference's attack_single loop body; True if another solve follows."""
            if not state["solved"][i]:
                return False
            found[i] = True
            last[i] = state["solution"][i]
            tau[i] = min(tau[i], np.max(np.abs(last[i] - x[i]))) * self.decrease_factor
            if tau[i] <= SMALLEST_TAU:
                return False
            self._restart(state, i, start=to_tanh_space(last[i]), tau=tau[i],
                          const=self._next_const(state["const"][i]), step=0)
            return True

        return state, solve_ended, lambda: (last, found)
