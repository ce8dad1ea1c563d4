"""Certified robustness of region-based classification, for the paper's clipped box.

The smoothed classifier. RC votes over points Y drawn uniformly from the
hypercube B(x, r) clipped to [0, 1]: coordinate j of Y is uniform on

    I_j(x) = [max(0, x_j - r), min(1, x_j + r)],  of length l_j(x),

independently over j (`rc_keras.sampling`). With infinitely many votes RC is
g(x) = argmax_c p_c(x), p_c(x) = P[f(Y) = c], f the point classifier. The
certificate is about g; a finite m-sample vote estimates it. For x in
[0, 1] and 0 < r: l_j(x) >= min(r, 1) (>= r when r <= 1/2).

Per-coordinate total variation. For uniform distributions on intervals I, I',
TV = 1 - |I n I'| / max(|I|, |I'|). Both ends of I_j(x) are non-decreasing
1-Lipschitz functions of x_j, so shifting x_j by delta_j (say delta_j >= 0)
moves them right by s, t in [0, delta_j]. With l = l_j(x): if t >= s,
TV = t / (l + t - s) <= t / l; if t < s, TV = s / l. Hence

    TV_j <= min(1, |delta_j| / l_j(x)).

Product distributions. Couple coordinate by coordinate (a maximal coupling
per coordinate agrees with probability 1 - TV_j, independently), so

    TV(P_x, P_{x+delta}) <= 1 - prod_j (1 - TV_j) <= sum_j TV_j.

The certificate. If p_A(x) >= p_lower and TV(P_x, P_{x+delta}) <= tau, then
p_A(x + delta) >= p_lower - tau and, for every B != A,
p_B(x + delta) <= 1 - p_lower + tau; so g(x + delta) = A whenever
tau < p_lower - 1/2 =: gap. With p_lower the one-sided (1 - alpha)
Clopper-Pearson lower bound of p_A, this holds with probability >= 1 - alpha
over the estimation samples. The radii below are open: every delta with
||delta|| < radius (and x + delta in [0, 1]) keeps label A.

    weighted L1:  sum_j |delta_j| / l_j(x) < gap                  (`tv_bound` is tighter)
    L1:     R_1   = gap * min_j l_j(x)       (sum_j |d_j| / l_j <= ||d||_1 / min_j l_j)
    Linf:   R_inf = the eps with 1 - prod_j (1 - eps / l_j(x)) = gap (bisection);
            for equal lengths l: l * (1 - (1 - gap)^(1/d)).
    L2:     R_2   = gap / sqrt(sum_j 1 / l_j(x)^2)  (Cauchy-Schwarz on the weighted
            L1 sum); R_2 >= R_1 / sqrt(d), equal when all l_j are equal.

Cross-check: away from the borders (l_j = 2r) R_1 = 2r (p_lower - 1/2) and
R_inf = 2r (1 - (3/2 - p_lower)^(1/d)), Yang et al.'s (ICML 2020) radii for
additive uniform noise U[-r, r]^d.

CERTIFY (Cohen et al. 2019): pick A as the most-voted class of
``selection_samples`` fresh samples; count A's votes n_A among
``num_samples`` independent samples; p_lower = Clopper-Pearson(n_A, n,
alpha); abstain (label -1) when p_lower <= 1/2. PREDICT with abstention
(`abstaining_labels`): the top class of a vote unless the two-sided binomial
test of its votes against the runner-up's has p-value > alpha.
"""
import dataclasses
import numbers

import numpy as np
from scipy import stats

ABSTAIN = -1
NORMS = ("l1", "linf", "l2")
_BISECTION_STEPS = 60  # halves the bracket [0, min_j l_j] down to ~1e-18


def check_alpha(alpha, name="alpha"):
    """alpha as a float in (0, 1), else ValueError naming ``name``."""
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not 0 < alpha < 1):
        raise ValueError(f"{name} must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def interval_lengths(x, radius):
    """l_j(x): float64 (N, D) lengths of the per-pixel sampling intervals.

    Args:
        x: images (N, ...) with values in [0, 1].
        radius: r > 0, in pixel units.
    """
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.minimum(flat + radius, 1.0) - np.maximum(flat - radius, 0.0)


def clopper_pearson_lower(successes, trials, alpha):
    """One-sided (1 - alpha) Clopper-Pearson lower bounds, float64 like ``successes``.

    The p solving P[Binomial(trials, p) >= successes] = alpha, i.e. the alpha
    quantile of Beta(successes, trials - successes + 1); 0 where successes = 0.
    Equals statsmodels' ``proportion_confint(k, n, alpha=2 * alpha, method="beta")[0]``.
    """
    successes = np.asarray(successes, np.float64)
    trials = np.broadcast_to(np.asarray(trials, np.float64), successes.shape)
    positive = successes > 0
    bound = np.zeros(successes.shape)
    bound[positive] = stats.beta.ppf(alpha, successes[positive],
                                     trials[positive] - successes[positive] + 1)
    return bound


def l1_radius(p_lower, lengths):
    """R_1 (N,) = max(0, p_lower - 1/2) * min_j l_j, from p_lower (N,) and lengths (N, D)."""
    return np.maximum(np.asarray(p_lower, np.float64) - 0.5, 0.0) * lengths.min(axis=1)


def l2_radius(p_lower, lengths):
    """R_2 (N,) = max(0, p_lower - 1/2) / sqrt(sum_j l_j^-2)."""
    return (np.maximum(np.asarray(p_lower, np.float64) - 0.5, 0.0)
            / np.sqrt(np.sum(lengths ** -2.0, axis=1)))


def linf_radius(p_lower, lengths):
    """R_inf (N,): largest eps with 1 - prod_j (1 - eps / l_j) <= p_lower - 1/2.

    Bisection on [0, min_j l_j], where sum_j log(1 - eps / l_j) decreases from
    0 to -inf; returns the lower end of the final bracket, so the product
    bound at the returned eps never exceeds the gap (the radius is sound).
    """
    gap = np.maximum(np.asarray(p_lower, np.float64) - 0.5, 0.0)
    target = np.log1p(-gap)[:, None]                                   # (N, 1)
    low = np.zeros((len(lengths), 1))
    high = lengths.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2
            ok = np.sum(np.log1p(-middle / lengths), axis=1, keepdims=True) >= target
            low, high = np.where(ok, middle, low), np.where(ok, high, middle)
    return low[:, 0]


def tv_bound(x, x_other, radius):
    """Upper bound (N,) on TV(P_x, P_x_other) of the sampled points (product bound).

    1 - prod_j (1 - min(1, |x_other_j - x_j| / l_j(x))): ``x_other`` keeps
    the label of a certificate of x whenever this is < p_lower - 1/2.
    """
    lengths = interval_lengths(x, radius)
    shift = np.abs(np.asarray(x_other, np.float64).reshape(lengths.shape)
                   - np.asarray(x, np.float64).reshape(lengths.shape))
    with np.errstate(divide="ignore"):  # log(0) = -inf where a pixel moved by >= l_j
        return -np.expm1(np.sum(np.log1p(-np.minimum(shift / lengths, 1.0)), axis=1))


def abstaining_labels(counts, alpha):
    """Cohen et al.'s PREDICT: int64 (N,) top labels, or -1 where the vote is not significant.

    The top class (lowest label on ties) is returned when the two-sided
    binomial test of its count n_A against n_A + n_B (n_B the runner-up's
    count) at p = 1/2 has p-value <= alpha; then the probability of
    returning a label other than g(x) is at most alpha. ``counts``: (N, L)
    votes of a fixed-size vote (early stopping would void the test).
    """
    alpha = check_alpha(alpha, "abstain_alpha")
    counts = np.asarray(counts, np.int64)
    order = np.argsort(-counts, axis=1, kind="stable")
    top = order[:, 0]
    n_top = counts[np.arange(len(counts)), top]
    n_second = counts[np.arange(len(counts)), order[:, 1]] if counts.shape[1] > 1 else 0 * n_top
    p_values = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue if a + b else 1.0
                         for a, b in zip(n_top, n_second)])
    return np.where(p_values <= alpha, top, ABSTAIN).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Certificate:
    """CERTIFY's answer for N images (see the module docstring).

    Attributes:
        labels: int64 (N,) certified label A, -1 where abstained.
        p_lower: float64 (N,) Clopper-Pearson lower bound of p_A (A the
            selected class, also where abstained).
        counts: int64 (N, L) votes of the ``num_samples`` estimation samples.
        selection_counts: int64 (N, L) votes of the selection samples.
        l1, linf, l2: float64 (N,) open certified radii (pixel units, pixels
            in [0, 1]); 0 where abstained.
        radius: r of the region; alpha: the failure probability per image.
    """

    labels: np.ndarray
    p_lower: np.ndarray
    counts: np.ndarray
    selection_counts: np.ndarray
    l1: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    radius: float
    alpha: float

    @property
    def abstained(self):
        """bool (N,): where no label is certified."""
        return self.labels == ABSTAIN

    def radii(self, norm):
        """The certified radii (N,) in ``norm`` ("l1", "linf" or "l2")."""
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
        return getattr(self, norm)

    def certified_accuracy(self, y, radii, norm="l1"):
        """Fraction (len(radii),) of images certified correct beyond each radius.

        Image i counts at radius eps when labels[i] == y[i] and its certified
        radius exceeds eps (the certificate covers ||delta|| < R); at eps = 0
        that is "correct and not abstained".
        """
        y = np.asarray(y)
        if y.shape != self.labels.shape:
            raise ValueError(f"y must have shape {self.labels.shape}, got {y.shape}")
        correct = self.labels == y
        radii = np.atleast_1d(np.asarray(radii, np.float64))
        return np.mean(correct[None, :] & (self.radii(norm)[None, :] > radii[:, None]), axis=1)

    def covers(self, x, x_other):
        """bool (N,): whether the certificate proves g(x_other[i]) == labels[i].

        Uses the product TV bound (`tv_bound`), tighter than every radius.
        ``x``: the N certified images; ``x_other``: N images of their shape.
        """
        if len(x) != len(self.labels) or np.shape(x_other) != np.shape(x):
            raise ValueError(f"x and x_other must be the {len(self.labels)} certified images "
                             f"and as many others, got shapes {np.shape(x)} and "
                             f"{np.shape(x_other)}")
        return ~self.abstained & (tv_bound(x, x_other, self.radius) < self.p_lower - 0.5)


def certificate(x, radius, selection_counts, counts, alpha):
    """CERTIFY's decision from the two votes (pure NumPy/SciPy).

    Args:
        x: images (N, ...) in [0, 1], the centres of the regions.
        radius: r > 0 of the region.
        selection_counts: (N, L) votes that pick the class A (argmax, lowest
            label on ties).
        counts: (N, L) votes of independent estimation samples, all rows
            summing to the same n.
        alpha: in (0, 1), the failure probability per image.
    """
    alpha = check_alpha(alpha)
    selection_counts = np.asarray(selection_counts, np.int64)
    counts = np.asarray(counts, np.int64)
    selected = np.argmax(selection_counts, axis=1)
    n_selected = counts[np.arange(len(counts)), selected]
    p_lower = clopper_pearson_lower(n_selected, counts.sum(axis=1), alpha)
    lengths = interval_lengths(x, radius)
    return Certificate(
        labels=np.where(p_lower > 0.5, selected, ABSTAIN).astype(np.int64), p_lower=p_lower,
        counts=counts, selection_counts=selection_counts, l1=l1_radius(p_lower, lengths),
        linf=linf_radius(p_lower, lengths), l2=l2_radius(p_lower, lengths),
        radius=float(radius), alpha=alpha)


class LaterRounds:
    """A `BoxSampler` seen from round ``first_round`` on (for `count_votes`).

    CERTIFY's estimation votes must be independent of its selection votes.
    With fresh noise every round is; with a seeded sampler the rounds are
    keyed by their index, so the estimation counts rounds after the
    selection's and the two never share a noise block.
    """

    def __init__(self, sampler, first_round):
        self.sampler, self.first_round = sampler, first_round
        self.lower = sampler.lower

    def points(self, round_index, examples, offsets):
        return self.sampler.points(round_index + self.first_round, examples, offsets)
