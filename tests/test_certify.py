"""Certified robustness of RC (`rc_keras.certify`, `RegionClassifier.certify`).

The bound and the radii are held to independent computations on fixed
numbers; soundness to a toy classifier whose class probabilities over the
clipped box are known in closed form.
"""
import json
import math

import keras
import numpy as np
import pytest

from rc_keras import RegionClassifier
from rc_keras.certify import (Certificate, abstaining_labels, certificate, clopper_pearson_lower,
                              interval_lengths, l1_radius, l2_radius, linf_radius, tv_bound)

RADIUS, THRESHOLD = 0.3, 0.5


def pixel_threshold_model(image_shape, pixel, threshold):
    """Logits model: class 1 iff the flattened image's ``pixel`` exceeds ``threshold``."""
    dim = int(np.prod(image_shape))
    model = keras.Sequential([keras.Input(image_shape), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    kernel = np.zeros((dim, 2), np.float32)
    kernel[pixel, 1] = 1.0
    model.layers[-1].set_weights([kernel, np.array([threshold, 0.0], np.float32)])
    return model


def exact_p1(value, radius=RADIUS, threshold=THRESHOLD):
    """P[Y > threshold], Y uniform on [max(0, value - r), min(1, value + r)]."""
    low, high = max(0.0, value - radius), min(1.0, value + radius)
    return min(1.0, max(0.0, (high - max(low, threshold)) / (high - low)))


def binomial_tail(k, n, p):
    """P[Binomial(n, p) >= k], summed term by term."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def lower_bound_by_bisection(k, n, alpha):
    """The p with P[Binomial(n, p) >= k] = alpha (the tail grows with p)."""
    low, high = 0.0, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if binomial_tail(k, n, middle) < alpha else (low, middle)
    return low


@pytest.fixture(scope="module")
def toy():
    """A 4-pixel toy: the label is pixel 0 > 0.5; pixels 1-3 sit at 0, 0.5 and 1."""
    return RegionClassifier(pixel_threshold_model((2, 2, 1), 0, THRESHOLD), RADIUS, seed=0)


# (a) the bound and the radii on fixed numbers


@pytest.mark.parametrize("k, n", [(1, 20), (10, 20), (19, 20), (20, 20), (37, 40)])
def test_clopper_pearson_matches_the_binomial_tail(k, n):
    bound = clopper_pearson_lower(np.array([k]), n, 0.01)[0]
    assert bound == pytest.approx(lower_bound_by_bisection(k, n, 0.01), abs=1e-9)


def test_clopper_pearson_closed_forms():
    # all n votes: P[Bin(n, p) = n] = p^n = alpha; no votes: 0.
    bound = clopper_pearson_lower(np.array([100_000, 0]), 100_000, 0.001)
    assert bound[0] == pytest.approx(0.001 ** (1 / 100_000), rel=1e-12)
    assert bound[1] == 0.0


def test_interval_lengths_clip_at_the_borders():
    x = np.array([[0.0, 0.1, 0.5, 0.95, 1.0]])
    np.testing.assert_allclose(interval_lengths(x, 0.3), [[0.3, 0.4, 0.6, 0.35, 0.3]])


def test_radii_equal_lengths_match_uniform_noise_radii():
    # Away from the borders l_j = 2r: Yang et al.'s radii for U[-r, r]^d.
    d, r, p = 784, 0.3, np.array([0.9, 0.6, 0.5, 0.3])
    lengths = np.full((4, d), 2 * r)
    gap = np.maximum(p - 0.5, 0)
    np.testing.assert_allclose(l1_radius(p, lengths), 2 * r * gap)
    np.testing.assert_allclose(linf_radius(p, lengths), 2 * r * (1 - (1 - gap) ** (1 / d)),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(l2_radius(p, lengths), 2 * r * gap / math.sqrt(d))


def test_radii_unequal_lengths_reach_the_gap():
    rng = np.random.default_rng(1)
    lengths = rng.uniform(0.3, 0.6, (3, 50))
    p = np.array([0.95, 0.7, 0.51])
    gap = p - 0.5
    # L1: all of delta on the shortest interval spends the gap exactly.
    np.testing.assert_allclose(l1_radius(p, lengths) / lengths.min(axis=1), gap)
    # Linf: the product bound at eps = R_inf is the gap (above it by rounding at most).
    eps = linf_radius(p, lengths)[:, None]
    product = 1 - np.prod(1 - eps / lengths, axis=1)
    np.testing.assert_allclose(product, gap, rtol=1e-9)
    assert np.all(product <= gap * (1 + 1e-12))
    # L2: delta_j proportional to 1 / l_j is the worst direction for the
    # weighted L1 sum; scaled to norm R_2 it spends the gap exactly.
    direction = 1 / lengths
    delta = direction / np.linalg.norm(direction, axis=1, keepdims=True) \
        * l2_radius(p, lengths)[:, None]
    np.testing.assert_allclose(np.sum(delta / lengths, axis=1), gap)
    assert np.all(l2_radius(p, lengths) >= l1_radius(p, lengths) / math.sqrt(50))


def test_tv_bound_is_exact_for_one_interior_pixel():
    # One coordinate, both ends inside [0, 1]: TV of two shifted uniforms is |delta| / 2r.
    x = np.full((1, 1), 0.5)
    assert tv_bound(x, x + 0.1, RADIUS)[0] == pytest.approx(0.1 / 0.6)
    assert tv_bound(x, x + 0.7, RADIUS)[0] == 1.0
    assert tv_bound(x, x, RADIUS)[0] == 0.0


def test_certificate_selects_bounds_and_abstains():
    x = np.full((3, 2), 0.5)
    selection = np.array([[10, 90], [60, 40], [50, 50]])
    counts = np.array([[100, 900], [520, 480], [900, 100]])
    result = certificate(x, RADIUS, selection, counts, 0.001)
    # row 1: A = 0 (selected) has 520 / 1000 votes: bound < 1/2, abstain;
    # row 2: the tie picks class 0, which then has 900 votes.
    np.testing.assert_array_equal(result.labels, [1, -1, 0])
    np.testing.assert_allclose(result.p_lower,
                               [lower_bound_by_bisection(k, 1000, 0.001) for k in (900, 520, 900)],
                               atol=1e-9)
    np.testing.assert_array_equal(result.abstained, [False, True, False])
    assert result.l1[1] == result.linf[1] == result.l2[1] == 0
    np.testing.assert_allclose(result.l1[[0, 2]], (result.p_lower[[0, 2]] - 0.5) * 0.6)


def test_certified_accuracy_counts_correct_labels_beyond_each_radius():
    zeros = np.zeros(4)
    result = Certificate(labels=np.array([1, 1, -1, 0]), p_lower=zeros, counts=None,
                         selection_counts=None, l1=np.array([0.5, 0.1, 0.0, 0.3]), linf=zeros,
                         l2=zeros, radius=RADIUS, alpha=0.001)
    y = np.array([1, 1, 1, 1])
    np.testing.assert_allclose(result.certified_accuracy(y, [0, 0.1, 0.2, 0.5]),
                               [0.5, 0.25, 0.25, 0.0])


def test_abstaining_labels_match_the_two_sided_binomial_test():
    counts = np.array([[60, 40, 0], [0, 30, 70], [5, 5, 0]])
    # two-sided p-values at 1/2: 2 P[X >= 60 | 100], 2 P[X >= 70 | 100], 1.
    p_first = 2 * binomial_tail(60, 100, 0.5)
    assert 0.05 < p_first < 0.1
    np.testing.assert_array_equal(abstaining_labels(counts, 0.1), [0, 2, -1])
    np.testing.assert_array_equal(abstaining_labels(counts, 0.05), [-1, 2, -1])


# (b) soundness on the toy, and tightness of the radius


def test_certify_is_sound_on_the_toy(toy):
    values = [0.62, 0.8, 0.3, 0.05]
    x = np.array([[v, 0.0, 0.5, 1.0] for v in values], np.float32).reshape(-1, 2, 2, 1)
    result = toy.certify(x, num_samples=20_000, alpha=0.001)
    exact = np.array([exact_p1(v) for v in values])
    truth = (exact > 0.5).astype(int)
    np.testing.assert_array_equal(result.labels, truth)
    p_a = np.where(truth == 1, exact, 1 - exact)
    assert np.all(result.p_lower <= p_a)
    assert np.all(result.l1 > 0)
    rng = np.random.default_rng(0)
    flat = x.reshape(len(x), -1).astype(np.float64)
    covered = []
    for i, label in enumerate(result.labels):
        # L1: everything on the decisive pixel, towards the threshold; Linf:
        # every corner direction; L2: random directions and the worst one.
        towards = np.sign(THRESHOLD - flat[i, 0])
        deltas = [0.999 * result.l1[i] * np.eye(4)[0] * towards]
        deltas += [0.999 * result.linf[i] * rng.choice([-1, 1], 4) for _ in range(20)]
        deltas += [0.999 * result.l2[i] * u / np.linalg.norm(u)
                   for u in rng.normal(size=(20, 4))]
        for delta in deltas:
            moved = np.clip(flat[i] + delta, 0, 1)
            p1 = exact_p1(moved[0])
            assert (p1 > 0.5) == (label == 1), (i, delta)
            others = x.copy()
            others[i] = moved.reshape(2, 2, 1)
            covered.append(result.covers(x, others)[i])
    assert all(covered)


def test_l1_radius_is_tight_for_one_interior_pixel():
    # x = 0.62, r = 0.3: Y ~ U[0.32, 0.92], p_1 = 0.7, R_1 = 0.2 * 0.6 = 0.12;
    # moving x down by delta leaves p_1 = (0.42 - delta) / 0.6.
    x, p = 0.62, exact_p1(0.62)
    radius = l1_radius(np.array([p]), interval_lengths(np.array([[x]]), RADIUS))[0]
    assert radius == pytest.approx(0.12)
    assert exact_p1(x - radius * (1 - 1e-6)) > 0.5
    assert exact_p1(x - radius * (1 + 1e-3)) < 0.5


def test_certify_counts_and_seeded_reproducibility(toy):
    x = np.array([[0.62, 0.0, 0.5, 1.0], [0.2, 0.3, 0.4, 0.5]], np.float32).reshape(-1, 2, 2, 1)
    first = toy.certify(x, num_samples=3000, selection_samples=50, batch_size=1)
    np.testing.assert_array_equal(first.counts.sum(axis=1), [3000, 3000])
    np.testing.assert_array_equal(first.selection_counts.sum(axis=1), [50, 50])
    again = toy.certify(x[:1], num_samples=3000, selection_samples=50)
    np.testing.assert_array_equal(again.counts, first.counts[:1])
    # the estimation draws other points than the selection (its own rounds)
    small = toy.certify(x[:1], num_samples=50, selection_samples=50)
    assert not np.array_equal(small.counts, small.selection_counts)


# (c) abstention


def test_certify_and_predict_abstain_on_a_coin_toss(toy):
    # pixel 0 at the threshold: p_1 = 1/2 exactly.
    x = np.array([[0.5, 0.0, 0.5, 1.0], [0.9, 0.0, 0.5, 1.0]], np.float32).reshape(-1, 2, 2, 1)
    result = toy.certify(x, num_samples=5000)
    np.testing.assert_array_equal(result.labels, [-1, 1])
    assert result.p_lower[0] <= 0.5 and result.l1[0] == 0
    rc = RegionClassifier(toy.base_model, RADIUS, 1000, seed=0)
    np.testing.assert_array_equal(rc.predict_labels(x, abstain_alpha=0.001), [-1, 1])


# (d) bad input


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0}, "alpha"), ({"alpha": 1.0}, "alpha"), ({"alpha": -0.1}, "alpha"),
    ({"alpha": True}, "alpha"), ({"num_samples": 0}, "num_samples"),
    ({"selection_samples": 0}, "selection_samples"), ({"batch_size": 0}, "batch_size"),
])
def test_certify_rejects_bad_arguments(toy, kwargs, message):
    x = np.full((1, 2, 2, 1), 0.5, np.float32)
    with pytest.raises(ValueError, match=message):
        toy.certify(x, **kwargs)


@pytest.mark.parametrize("x, error", [
    (np.full((1, 3, 3, 1), 0.5, np.float32), ValueError),
    (np.full((1, 2, 2, 1), np.nan, np.float32), ValueError),
    (np.full((1, 2, 2, 1), 1.5, np.float32), ValueError),
    (np.ones((1, 2, 2, 1), np.uint8), TypeError),
])
def test_certify_rejects_bad_images(toy, x, error):
    with pytest.raises(error):
        toy.certify(x)


def test_certify_needs_a_positive_radius_and_predict_a_fixed_vote(toy):
    x = np.full((1, 2, 2, 1), 0.5, np.float32)
    with pytest.raises(ValueError, match="radius > 0"):
        RegionClassifier(toy.base_model, 0.0).certify(x)
    with pytest.raises(ValueError, match="early_stop=False"):
        RegionClassifier(toy.base_model, RADIUS, early_stop=True).predict_labels(
            x, abstain_alpha=0.01)
    with pytest.raises(ValueError, match="abstain_alpha"):
        toy.predict_labels(x, abstain_alpha=2)
    with pytest.raises(ValueError, match="unknown norm"):
        toy.certify(x, num_samples=10).certified_accuracy([1], [0.1], norm="l3")


# (e) the region-trained base model: `python -m models.train --region-radius R`


def test_region_training_data_lies_in_each_box_and_is_seeded(rng):
    from models.train import RECIPES, epoch_dataset
    x = rng.random((40, 4, 4, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 40)]
    recipe = RECIPES["mnist"]

    def epoch(seed, number, region_radius=0.3):
        batches = list(epoch_dataset(x, y, recipe, seed, number, region_radius))
        return np.concatenate([b[0].numpy() for b in batches]), \
            np.concatenate([b[1].numpy() for b in batches])

    images, targets = epoch(0, 1)
    order = np.random.default_rng([0, 1]).permutation(len(x))
    np.testing.assert_array_equal(targets, y[order])
    centre = x[order]
    assert np.all(images >= np.maximum(centre - 0.3, 0) - 1e-6)
    assert np.all(images <= np.minimum(centre + 0.3, 1) + 1e-6)
    assert np.abs(images - centre).max() > 0.25               # spread over the box
    np.testing.assert_array_equal(images, epoch(0, 1)[0])     # a function of (seed, epoch)
    assert not np.array_equal(images, epoch(0, 2)[0])
    np.testing.assert_array_equal(epoch(0, 1, 0.0)[0], centre)  # R = 0: the images


def test_region_radius_is_checked_and_part_of_the_resume_check(mnist, tmp_path):
    from models.train import ResumeMismatch, main, train
    tiny = dict(dataset="mnist", train_limit=128, seed=3, epochs=2, verbose=0,
                out=str(tmp_path / "region.keras"))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="region_radius"):
            train(region_radius=bad, **tiny)
    with pytest.raises(SystemExit) as exit_info:
        main(["--region-radius", "-1"])
    assert exit_info.value.code == 2
    assert train(region_radius=0.3, max_epochs_this_run=1, **tiny) is None
    with pytest.raises(ResumeMismatch, match="region_radius"):
        train(region_radius=0.5, **tiny)
    with pytest.raises(ResumeMismatch, match="region_radius"):
        train(**tiny)
    state = json.loads((tmp_path / "region.ckpt" / "state.json").read_text())
    assert state["config"]["region_radius"] == 0.3 and state["epochs_done"] == 1


# (f) the experiment part: `python -m experiments.certify`


@pytest.mark.slow
def test_certify_experiment_writes_its_part_and_resumes(mnist, tmp_path, capsys):
    from experiments import certify as part
    argv = ["--dataset", "mnist", "--profile", "quick", "--images", "3", "--radius", "paper",
            "--out", str(tmp_path)]
    part.main(argv)
    summary = json.loads((tmp_path / "certify.json").read_text())
    first = summary["point, r = 0.3"]
    assert 0 <= first["abstained"] <= 1 and first["seconds_per_image"] > 0
    assert (tmp_path / "certify.png").stat().st_size > 0
    assert "certified robustness" in (tmp_path / "certify.md").read_text()
    lines = (tmp_path / "certify" / "point-r0.3.jsonl").read_text().splitlines()
    assert len(lines) == 3
    capsys.readouterr()
    part.main(argv)  # every image recorded: nothing is certified again
    assert "images certified" not in capsys.readouterr().out
    assert json.loads((tmp_path / "certify.json").read_text())["point, r = 0.3"]["median_l1"] \
        == first["median_l1"]
