"""Algorithm 1 of the paper: learn the hypercube radius r on a validation set.

Starting at r = r0, grow r in steps of eps while the RC accuracy on the
validation set stays >= the point classifier's; return the last r that kept
it (the algorithm's ``r - eps`` at the first radius that fails).
"""
import dataclasses
import numbers
import time

import numpy as np

from models.checks import check_images, check_labels, model_input_shape
from rc_keras.region import (DEFAULT_CHUNK_SIZE, DEFAULT_ERROR_BOUND, DEFAULT_ROUND_SIZE,
                             RegionClassifier)


# Grid radii r0 + k * step are rounded to this many significant digits, so that
# 3 * 0.01 is 0.03 (not 0.030000000000000002) in keys, logs and figures.
GRID_DIGITS = 12


def radius_key(radius):
    """The string that names a radius in logs and resume files.

    Six decimals ("0.030000") where they name the radius exactly, else the
    shortest repr ("1e-07"): two different radii never share a key.
    """
    radius = float(radius)
    key = f"{radius:.6f}"
    return key if float(key) == radius else repr(radius)


def grid_radius(r0, step, k):
    """The k-th radius of Algorithm 1's grid, r0 + k * step to `GRID_DIGITS` digits."""
    return float(f"{r0 + k * step:.{GRID_DIGITS}g}")


def _check_finite(value, name, minimum, strict=False):
    """``value`` as a float, or a ValueError naming ``name`` unless finite and >= (>) minimum."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and np.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} "
                         f"{minimum}, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class RadiusSearch:
    """The result of `learn_radius`.

    Attributes:
        radius: the learned r (pixel units, pixels in [0, 1]): always a
            radius of ``curve`` whose accuracy kept the point accuracy.
        point_accuracy: the point classifier's validation accuracy in [0, 1].
        curve: ((r, RC validation accuracy), ...) for every radius evaluated,
            in order; it ends at the first radius that failed (unless
            ``reached_max_radius``), or at ``curve_to`` if that lies beyond.
        reached_max_radius: True if the search stopped at ``max_radius``
            without the accuracy dropping.
        forward_passes: base-model forward passes spent on the radii
            evaluated in this call (resumed radii count 0).
    """

    radius: float
    point_accuracy: float
    curve: tuple
    reached_max_radius: bool
    forward_passes: int

    def to_dict(self):
        return {"radius": self.radius, "point_accuracy": self.point_accuracy,
                "curve": [list(point) for point in self.curve],
                "reached_max_radius": self.reached_max_radius,
                "forward_passes": self.forward_passes}


def learn_radius(base_model, x_val, y_val, r0=0.0, step=0.01, num_samples=1000, *,
                 max_radius=1.0, seed=0, early_stop=True, error_bound=DEFAULT_ERROR_BOUND,
                 chunk_size=DEFAULT_CHUNK_SIZE, round_size=DEFAULT_ROUND_SIZE, batch_size=1000,
                 done=None, on_radius=None, curve_to=None):
    """Algorithm 1 (Cao & Gong 2017, section 5.1): the largest r on the grid
    r0, r0 + step, ... whose RC validation accuracy is >= the point accuracy.

    Accuracies are compared as integer counts of correct examples. What is
    reused: the point predictions and the compiled RC graph (only the radius
    variable changes between radii); r = 0 costs one forward pass per image.
    With ``seed`` set (default 0), every radius uses the same seeded noise
    (common random numbers), so the curve is reproducible and smooth in r.

    Args:
        base_model: Keras point classifier, images -> (N, classes) scores.
        x_val: float images (N, H, W, C) in [0, 1].
        y_val: int labels (N,).
        r0: first radius (paper: 0). step: eps > 0 (paper: 0.01).
        num_samples: m, points sampled per image (paper: 1,000).
        max_radius: stop (``reached_max_radius``) after this radius.
        seed: noise seed of the RC (int), or None for fresh noise.
        early_stop: use early-stopped voting (`rc_keras.voting`): the exact
            rule never changes a label; the sequential one changes a vote
            with probability <= ``error_bound`` per image. False: the
            paper's fixed m votes ("naive").
        error_bound, chunk_size, round_size: as in `RegionClassifier`.
        batch_size: images per graph call.
        done: optional mapping ``radius_key(r) -> {"correct": int, ...}`` of
            radii already evaluated (resume): those are not recomputed.
        on_radius: optional callable(record) called after each newly
            evaluated radius, record = {"radius", "correct", "accuracy",
            "forward_passes", "seconds"}.
        curve_to: optional radius up to which the grid is evaluated even
            after the search has stopped (Figure 4's curve beyond the learned
            r; at most ``max_radius``); the learned r is the same with or
            without it. Radii of ``done`` that follow the curve's end join
            it too (they cost nothing), so a resumed run draws every radius
            an earlier run measured.

    Returns:
        A `RadiusSearch` whose radius is one the search evaluated: the grid
        radius before the first that lowered the accuracy, or the last one
        below ``max_radius``.

    Raises:
        ValueError: bad arguments (r0 < 0, step <= 0 or too small to move r
            at `GRID_DIGITS` significant digits, max_radius < r0, non-finite
            values, bad images or labels), or r0 > 0 itself lowers the
            accuracy, so that no radius of the grid keeps it (r = 0 always
            does: RC at r = 0 is the point classifier).
    """
    r0 = _check_finite(r0, "r0", 0)
    step = _check_finite(step, "step", 0, strict=True)
    max_radius = _check_finite(max_radius, "max_radius", 0)
    if max_radius < r0:
        raise ValueError(f"max_radius ({max_radius!r}) must be >= r0 ({r0!r})")
    smallest_step = max(1.0, max_radius) * 10.0 ** (2 - GRID_DIGITS)
    if step < smallest_step:
        raise ValueError(f"step must be >= {smallest_step:g} for radii up to max_radius = "
                         f"{max_radius!r} (grid radii keep {GRID_DIGITS} significant digits), "
                         f"got {step!r}")
    x_val = check_images(x_val, "x_val", model_input_shape(base_model))
    if not len(x_val):
        raise ValueError("x_val is empty")
    scores = base_model.predict(x_val, batch_size=batch_size, verbose=0)
    y_val = check_labels(y_val, len(x_val), scores.shape[1], "y_val")
    done = {} if done is None else done
    point_correct = int(np.sum(np.argmax(scores, axis=1) == y_val))
    rc = RegionClassifier(base_model, r0, num_samples, chunk_size=chunk_size,
                          round_size=round_size, seed=seed, early_stop=early_stop,
                          error_bound=error_bound)
    curve, passes, k, learned = [], 0, 0, None
    curve_to = -1.0 if curve_to is None else float(curve_to)
    while True:
        radius = grid_radius(r0, step, k)
        beyond_curve = radius > curve_to + 1e-9 and radius_key(radius) not in done
        if radius > max_radius + 1e-9 or (learned is not None and beyond_curve):
            reached = learned is None
            return RadiusSearch(curve[-1][0] if reached else learned,
                                point_correct / len(x_val), tuple(curve), reached, passes)
        key = radius_key(radius)
        if key in done:
            correct = int(done[key]["correct"])
        else:
            start = time.perf_counter()
            rc.radius = radius
            counts = rc.vote_counts(x_val, batch_size)
            correct = int(np.sum(np.argmax(counts, axis=1) == y_val))
            spent = int(counts.sum()) if radius > 0 else len(x_val)
            passes += spent
            if on_radius is not None:
                on_radius({"radius": radius, "correct": correct,
                           "accuracy": correct / len(x_val), "forward_passes": spent,
                           "seconds": time.perf_counter() - start})
        curve.append((radius, correct / len(x_val)))
        if learned is None and correct < point_correct:
            if len(curve) == 1:
                raise ValueError(
                    f"r0 = {r0!r} already lowers the validation accuracy ({correct}/{len(x_val)} "
                    f"correct vs {point_correct}/{len(x_val)} for the point classifier), so no "
                    f"radius of the grid keeps it; start lower (r0 = 0 always keeps it)")
            learned = curve[-2][0]
        k += 1
