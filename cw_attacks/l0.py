"""Carlini–Wagner L0 attack (Carlini & Wagner, S&P 2017), as in the reference l0_attack.py.

Per example, repeat until a solve fails:

1. Solve the L2-style problem restricted to the pixels still allowed to
   change (the mask): minimise c * max(0, max_{i != t} Z_i - Z_t + 0.01)
   + ||x' - x||_2^2, x' = mask * (tanh(w + s) + 1) / 2 + (1 - mask) * x,
   by Adam from w = 0, where s is the previous solution in tanh space. The
   solve ends at the first iterate whose loss term is below 1e-4 (success;
   that iterate and its gradient are kept); after `max_iterations`
   iterations c is multiplied by `const_factor` (iterate and Adam moments
   kept) and the solve fails once c >= `largest_const`. c carries over to
   the next solve.
2. Score each still-free pixel by |sum_channels delta| * sum_channels |grad|
   and fix (remove from the mask) the lowest-scored ones, in np.argsort
   order: at least one, up to 0.3 * sqrt(#changed pixels), stopping after
   the first whose score exceeds 0.01.

The result is the last successful solution.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE
from cw_attacks.cw_common import (GrowingConstAttack, adam_step, from_tanh_space, margin_loss,
                                  select, squared_l2, to_tanh_space)
from cw_attacks.result import L0_THRESHOLD

MARGIN = 0.01          # logit margin of the inner loss term
SOLVED_BELOW = 1e-4    # the inner solve succeeds when the loss term falls below this
FIX_FRACTION = 0.3     # fix up to FIX_FRACTION * sqrt(changed pixels) pixels per round
BIG_SCORE = 0.01       # stop fixing after the first pixel scoring above this


class CarliniL0(GrowingConstAttack):
    """Targeted (default) or untargeted CW-L0 with the reference defaults.

    Keyword-only args: those of `GrowingConstAttack`, and
        independent_channels: fix channels one by one (counting changed
            channels) instead of whole pixels.
    """

    norm = "l0"

    def __init__(self, model, *, targeted=True, learning_rate=1e-2, max_iterations=1000,
                 initial_const=1e-3, largest_const=2e6, const_factor=2.0, reduce_const=False,
                 independent_channels=False, batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, learning_rate=learning_rate,
                         max_iterations=max_iterations, initial_const=initial_const,
                         largest_const=largest_const, const_factor=const_factor,
                         reduce_const=reduce_const, batch_size=batch_size)
        self.independent_channels = bool(independent_channels)

    def _iteration(self, s):
        """One Adam iteration of every running restricted solve (reference doit loop)."""
        def objective(w):
            images = s["mask"] * from_tanh_space(w + s["start"]) + (1.0 - s["mask"]) * s["x"]
            term = margin_loss(self._logits(images), s["labels"], self.targeted, MARGIN)
            distance = squared_l2(images, s["x_ref"])
            return tf.cast(s["const"], tf.float32) * term + distance, (images, term)

        _, (images, term), grad = self._evaluate(s["w"], objective)
        solved = term < SOLVED_BELOW
        w, m, v, t = adam_step(s["w"], grad, s["m"], s["v"], s["t"], self.learning_rate)
        step, const, failed = self._advance_const(s, solved)
        return {**s, "w": w, "m": m, "v": v, "t": t, "step": step, "const": const,
                "solved": solved, "done": solved | failed,
                "solution": select(solved, images, s["solution"]),
                "grad": select(solved, grad, s["grad"])}

    def _fix_pixels(self, x, solution, grad, mask):
        """Remove the least useful free pixels from `mask` (H, W, C) in place, as the reference."""
        changed = np.sum(np.any(np.abs(solution - x) >= L0_THRESHOLD, axis=-1))
        if self.independent_channels:
            free = mask.reshape(-1, 1)
            score = (np.abs(solution - x) * np.abs(grad)).ravel()
        else:
            free = mask.reshape(-1, mask.shape[-1])
            score = (np.abs(np.sum(solution - x, axis=-1)) * np.sum(np.abs(grad), axis=-1)).ravel()
        fixed = 0
        for e in np.argsort(score):
            if np.all(free[e]):
                fixed += 1
                free[e] = 0
                if score[e] > BIG_SCORE or fixed >= FIX_FRACTION * changed ** 0.5:
                    break

    def _start(self, x, labels):
        n = len(x)
        start = to_tanh_space(x)
        found = np.zeros(n, bool)
        last = x.copy()
        state = self._solve_state(
            x, labels, x=x, x_ref=from_tanh_space(start).numpy(), start=start,
            mask=np.ones_like(x), const=np.full(n, self.initial_const), step=np.zeros(n, np.int32),
            solved=np.zeros(n, bool), solution=x.copy(), grad=np.zeros_like(x))

        def solve_ended(state, i):
            """The reference's attack_single loop body; True if another solve follows."""
            if not state["solved"][i]:
                return False
            found[i] = True
            if not state["mask"][i].any():   # nothing may change, yet it worked: x itself
                last[i] = x[i]
                return False
            last[i] = state["solution"][i]
            self._fix_pixels(x[i], last[i], state["grad"][i], state["mask"][i])
            self._restart(state, i, start=to_tanh_space(last[i]),
                          const=self._next_const(state["const"][i]), step=0)
            return True

        return state, solve_ended, lambda: (last, found)
