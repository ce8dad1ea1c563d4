"""The smallest-eps search of the paper's FGSM and IGSM runs, and their common base class.

The paper searches eps for the smallest value that succeeds (failure if none
does). `search_smallest_eps` does this per example and batched:

1. grid: the values of ``eps_grid`` are tried in increasing order, each on
   the examples that have not succeeded yet; an example leaves the grid at
   its first success, with hi = that value and lo = the grid value before it
   (0 for the first);
2. bisection: ``bisection_steps`` times, every example that succeeded tries
   mid = (lo + hi) / 2; success sets hi = mid and keeps that image, failure
   sets lo = mid.

The adversarial image returned is the one found at the final hi. Success need
not be monotone in eps, so hi is the smallest successful eps on the grid,
refined to within (hi - lo) / 2**bisection_steps of a failing eps below it,
not necessarily the global minimum.
"""
import numpy as np

from cw_attacks.base import DEFAULT_BATCH_SIZE, Attack, in_batches
from cw_attacks.result import AttackResult


def search_smallest_eps(attack_at, x, labels, eps_grid, bisection_steps):
    """Per example, the smallest eps for which ``attack_at`` succeeds (see the module doc).

    Args:
        attack_at: callable (x, labels, eps) -> (x_adv, success, steps), NumPy
            in and out, with eps (n,) one value per example, success (n,) bool
            and steps (n,) the gradient steps spent.
        x: (N, H, W, C) float32 images in [0, 1].
        labels: (N,) int targets (or true labels for an untargeted attack).
        eps_grid: increasing L∞ radii in (0, 1] tried before the bisection.
        bisection_steps: halvings of the interval around the first success.

    Returns:
        (x_adv (N, H, W, C), the image at the smallest successful eps or x;
        success (N,) bool; steps (N,) int, summed over all tries).
    """
    n = len(x)
    x_adv, found = x.copy(), np.zeros(n, bool)
    lo, hi = np.zeros(n), np.full(n, np.nan)
    steps = np.zeros(n, np.int64)

    def attempt(index, eps):
        adv, ok, spent = attack_at(x[index], labels[index], eps)
        steps[index] += spent
        x_adv[index[ok]] = adv[ok]
        hi[index[ok]] = eps[ok]
        lo[index[~ok]] = eps[~ok]
        return ok

    for eps in eps_grid:
        index = np.flatnonzero(~found)
        if not len(index):
            break
        found[index[attempt(index, np.full(len(index), eps))]] = True
    index = np.flatnonzero(found)
    for _ in range(bisection_steps if len(index) else 0):
        attempt(index, (lo[index] + hi[index]) / 2)
    return x_adv, found, steps


def check_eps_grid(eps_grid, bisection_steps):
    """Validate an eps search's parameters; return the grid as a float tuple."""
    grid = tuple(float(e) for e in eps_grid)
    if not grid or any(not 0 < e <= 1 for e in grid) or list(grid) != sorted(set(grid)):
        raise ValueError(f"eps_grid must be strictly increasing values in (0, 1], got {eps_grid}")
    if isinstance(bisection_steps, bool) or int(bisection_steps) != bisection_steps \
            or bisection_steps < 0:
        raise ValueError(f"bisection_steps must be a non-negative integer, got {bisection_steps!r}")
    return grid


class EpsSearchAttack(Attack):
    """Base of FGSM and IGSM: an L∞ attack at a given eps, wrapped in `search_smallest_eps`.

    Keyword-only args (besides `Attack`'s ``targeted`` and ``batch_size``):
        eps_grid: increasing L∞ radii in (0, 1] (pixel scale [0, 1]).
        bisection_steps: halvings after the grid.

    `attack` returns an `AttackResult` whose ``iterations`` counts the
    gradient steps over all eps tried. Subclasses implement
    `_perturb(x, labels, eps)` on at most ``batch_size`` examples.
    """

    norm = "linf"

    def __init__(self, model, *, targeted=True, eps_grid, bisection_steps,
                 batch_size=DEFAULT_BATCH_SIZE):
        super().__init__(model, targeted=targeted, batch_size=batch_size)
        self.eps_grid = check_eps_grid(eps_grid, bisection_steps)
        self.bisection_steps = int(bisection_steps)

    def _attack(self, x, labels):
        x_adv, success, steps = search_smallest_eps(self._attack_at, x, labels, self.eps_grid,
                                                    self.bisection_steps)
        return AttackResult.from_images(x, x_adv, success, steps)

    def _attack_at(self, x, labels, eps):
        """(x, labels, eps (n,)) -> (x_adv, success (n,), steps (n,)), NumPy, in batches."""
        return in_batches(self._perturb, self.batch_size, x, labels, eps)

    def _perturb(self, x, labels, eps):
        """One batch at eps (n,) per example -> (x_adv, success (n,), steps (n,))."""
        raise NotImplementedError
