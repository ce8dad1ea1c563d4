"""Adaptive attacks on the region-based classifier: EOTPGD, OptMargin, EOT-CW-L2.

Tiny models on 8x8 images; the RC's differentiable sampling; PGD held equal
to cleverhans' projected_gradient_descent on a point model; success judged
by the RC's own vote (a fake RC whose vote never moves defeats attacks that
fool every sampled point).
"""
import numpy as np
import pytest
import tensorflow as tf

from cw_attacks.eot_cw import EOTCarliniL2
from cw_attacks.eot_pgd import EOTPGD
from cw_attacks.optmargin import OptMargin, orthogonal_noise
from cw_attacks.region_target import is_region_classifier, vote_margin
from rc_keras.region import RegionClassifier

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def net():
    """Untrained logits model 8x8x1 -> 10, deterministic weights, logits well outside [0, 1]."""
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def batch(net):
    """(x (6, 8, 8, 1) in [0, 1], the net's labels (6,))."""
    x = np.random.default_rng(0).random((6, *SHAPE), dtype=np.float32)
    return x, np.argmax(net(x), axis=1)


@pytest.fixture(scope="module")
def rc(net):
    return RegionClassifier(net, 0.1, 200, seed=0)


class FrozenVote:
    """A duck-typed RC: samples are the image itself; the vote gives every image the label of
    the nearest of ``originals`` (so no attack within reach ever changes it)."""

    def __init__(self, base_model, originals, labels):
        self.base_model, self.originals, self.labels = base_model, originals, np.asarray(labels)

    def sample_points(self, x, num_samples, seed=None, draw=0):
        return tf.repeat(tf.convert_to_tensor(x)[:, None], num_samples, axis=1)

    def predict_labels(self, x):
        distance = ((x[:, None] - self.originals[None]) ** 2).sum(axis=(2, 3, 4))
        return self.labels[np.argmin(distance, axis=1)]


# --- the RC's differentiable sampling ---------------------------------------------------------

def test_sample_points_lie_in_the_clipped_box_and_follow_the_seed(rc, batch):
    x, _ = batch
    points = rc.sample_points(x, 7, seed=3, draw=2).numpy()
    assert points.shape == (6, 7, *SHAPE)
    lower, upper = np.maximum(x - 0.1, 0), np.minimum(x + 0.1, 1)
    assert np.all(points >= lower[:, None] - 1e-6) and np.all(points <= upper[:, None] + 1e-6)
    assert np.array_equal(points, rc.sample_points(x, 7, seed=3, draw=2).numpy())
    assert not np.array_equal(points, rc.sample_points(x, 7, seed=3, draw=1).numpy())
    assert not np.array_equal(rc.sample_points(x, 7).numpy(), rc.sample_points(x, 7).numpy())


def test_sample_points_gradient_is_the_reparametrisation(rc):
    # box clipped below, not clipped, clipped above, clipped below
    values = np.resize(np.array([0.05, 0.5, 0.95, 0.0], np.float32), 64)
    x = tf.constant(values.reshape(1, *SHAPE))
    with tf.GradientTape() as tape:
        tape.watch(x)
        points = rc.sample_points(x, 1, seed=0)
    grad = tape.gradient(points, x).numpy().ravel()
    lower, upper = np.maximum(values - 0.1, 0), np.minimum(values + 0.1, 1)
    u = (points.numpy().ravel() - lower) / (upper - lower)
    # y = lo + u (hi - lo): d/dx = u where lo is clipped at 0, 1 - u where hi is clipped at 1
    expected = np.where(values < 0.1, u, np.where(values > 0.9, 1 - u, 1.0))
    np.testing.assert_allclose(grad, expected, atol=1e-5)


def test_duck_typing_and_vote_margin(rc, net):
    assert is_region_classifier(rc) and not is_region_classifier(net)
    logits = tf.constant([[[5., 0, 0], [5., 0, 0], [0, 5., 0], [0, 0, 5.]]])   # votes 2/4, 1/4, 1/4
    assert vote_margin(logits, tf.constant([0]), targeted=False).numpy() == pytest.approx(-0.25)
    assert vote_margin(logits, tf.constant([0]), targeted=True).numpy() == pytest.approx(0.25)
    assert vote_margin(logits, tf.constant([1]), targeted=False).numpy() == pytest.approx(0.25)


# --- EOTPGD --------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm,eps,ord_", [("linf", 0.05, np.inf), ("l2", 0.5, 2)])
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_on_a_point_model_equals_cleverhans(net, batch, norm, eps, ord_, targeted):
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
    x, labels = batch
    labels = (labels + 1) % 10 if targeted else labels
    attack = EOTPGD(net, eps=eps, norm=norm, targeted=targeted, steps=7, rand_init=False,
                    loss="ce")
    final, _ = attack._run_restart(x, labels, np.zeros_like(x), 0)
    reference = projected_gradient_descent(net, x, eps, attack.step_size, 7, ord_, clip_min=0.0,
                                           clip_max=1.0, y=labels, targeted=targeted,
                                           rand_init=False)
    np.testing.assert_allclose(final, reference.numpy(), atol=1e-6)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_pgd_respects_the_budget_and_the_image_range(net, rc, batch, norm, eps):
    x, labels = batch
    for model in (net, rc):
        attack = EOTPGD(model, eps=eps, norm=norm, steps=10, eot_samples=4, seed=0)
        result = attack.attack(x, labels)
        assert result.adversarial.shape == x.shape and result.success.shape == (6,)
        assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
        assert np.all(getattr(result, norm) <= eps * (1 + 1e-5))
        assert result.success.any()
        np.testing.assert_array_equal(result.iterations, 10)
    judged = rc.predict_labels(result.adversarial[result.success])
    assert np.all(judged != labels[result.success])


def test_pgd_success_is_the_region_vote_not_the_samples(net, batch):
    x, labels = batch
    on_point = EOTPGD(net, eps=0.3, steps=10, seed=0).attack(x, labels)
    assert on_point.success.all()    # the samples (here the image itself) are all fooled...
    frozen = EOTPGD(FrozenVote(net, x, labels), eps=0.3, steps=10, restarts=2, seed=0)
    result = frozen.attack(x, labels)
    assert not result.success.any()  # ...but the vote never moves: no success, x returned
    np.testing.assert_array_equal(result.adversarial, x)
    np.testing.assert_array_equal(result.iterations, 20)


def test_pgd_margin_loss_stops_pulling_fooled_points(net, batch):
    x, labels = batch
    attack = EOTPGD(net, eps=0.3, steps=10, loss="margin", rand_init=False)
    result = attack.attack(x, labels)
    assert result.success.all() and np.all(result.linf <= 0.3 * (1 + 1e-5))
    logits = tf.constant(np.eye(10, dtype=np.float32)[None, [3, 4]] * 5)   # (1, 2, 10)
    # the sample voting 3 is fooled (true label 4): only the other one has a gradient
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = attack._objective(logits, tf.constant([4]))
    grad = tape.gradient(loss, logits).numpy()[0]
    assert not grad[0].any() and grad[1].any()


def test_pgd_with_a_seed_is_reproducible(rc, batch):
    x, labels = batch
    attack = EOTPGD(rc, eps=0.1, steps=5, eot_samples=3, seed=1)
    first, second = attack.attack(x, labels), attack.attack(x, labels)
    np.testing.assert_array_equal(first.adversarial, second.adversarial)
    np.testing.assert_array_equal(first.success, second.success)
    other = EOTPGD(rc, eps=0.1, steps=5, eot_samples=3, seed=2, restarts=1).attack(x, labels)
    assert not np.array_equal(first.adversarial, other.adversarial)


@pytest.mark.parametrize("kwargs,message", [
    ({"eps": -0.1}, "eps"), ({"eps": 0.1, "norm": "l1"}, "norm"),
    ({"eps": 0.1, "eot_samples": 0}, "eot_samples"), ({"eps": 0.1, "steps": 2.5}, "steps"),
    ({"eps": 0.1, "loss": "hinge"}, "loss"), ({"eps": 0.1, "seed": -1}, "seed"),
    ({"eps": 0.1, "rand_init": "yes"}, "rand_init"), ({"eps": 0.1, "restarts": 0}, "restarts")])
def test_pgd_rejects_bad_settings(net, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EOTPGD(net, **kwargs)


def test_attacks_reject_bad_inputs_and_probability_models(net, rc, batch):
    import keras
    x, labels = batch
    attack = EOTPGD(rc, eps=0.1, steps=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack.attack(x + 2, labels)
    with pytest.raises(ValueError, match="labels"):
        attack.attack(x, labels[:3])
    with pytest.raises(ValueError, match="shape"):
        attack.attack(x[:, :4], labels)
    softmax = keras.Sequential([net, keras.layers.Softmax()])
    with pytest.raises(ValueError, match="logits"):
        EOTPGD(RegionClassifier(softmax, 0.1, 10), eps=0.1)
    with pytest.raises(ValueError, match="noise_count"):
        OptMargin(net, noise_count=65)
    with pytest.raises(ValueError, match="vote_confidence"):
        EOTCarliniL2(rc, vote_confidence=1.0)


# --- OptMargin -----------------------------------------------------------------------------------

def test_optmargin_noise_is_orthogonal_with_the_given_rms():
    noise = orthogonal_noise(SHAPE, 5, 0.3, np.random.default_rng(0))
    flat = noise.reshape(5, -1).astype(np.float64)
    assert noise.shape == (5, *SHAPE) and not flat[-1].any()
    np.testing.assert_allclose(np.sqrt((flat[:-1] ** 2).mean(axis=1)), 0.3, rtol=1e-5)
    gram = flat[:-1] @ flat[:-1].T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-4)


def test_optmargin_examples_fool_every_copy(net, batch):
    x, labels = batch
    attack = OptMargin(net, max_iterations=30, noise_mag=0.1, seed=0)
    result = attack.attack(x, labels)
    assert result.success.any() and result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    adv = result.adversarial[result.success]
    copies = np.clip(adv[:, None] + attack.noise.numpy()[None], 0, 1).reshape(-1, *SHAPE)
    predicted = np.argmax(net(copies), axis=1).reshape(len(adv), -1)
    assert np.all(predicted != labels[result.success][:, None])
    plain = OptMargin(net, max_iterations=30, noise_count=1).attack(x, labels)   # centre only
    assert np.all(result.l2[result.success & plain.success]
                  >= plain.l2[result.success & plain.success] - 1e-6)


def test_optmargin_and_eot_cw_are_judged_by_the_vote(net, batch):
    x, labels = batch
    frozen = FrozenVote(net, x, labels)
    for attack in (OptMargin(frozen, max_iterations=20, noise_mag=0.05, seed=0),
                   EOTCarliniL2(frozen, targeted=False, max_iterations=20, binary_search_steps=2,
                                initial_const=10.0, eot_samples=2, vote_confidence=0.0)):
        result = attack.attack(x, labels)
        assert not result.success.any()
        np.testing.assert_array_equal(result.adversarial, x)
        assert result.iterations.min() > 0


# --- EOT-CW-L2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("targeted", [False, True])
def test_eot_cw_succeeds_on_the_rc_reproducibly(rc, batch, targeted):
    x, labels = batch
    labels = (labels + 1) % 10 if targeted else labels
    attack = EOTCarliniL2(rc, targeted=targeted, max_iterations=60, binary_search_steps=3,
                          learning_rate=0.1, initial_const=1.0, eot_samples=8, seed=0)
    result = attack.attack(x, labels)
    assert result.success.any()
    judged = rc.predict_labels(result.adversarial[result.success])
    hit = judged == labels[result.success]
    assert np.all(hit if targeted else ~hit)
    again = attack.attack(x, labels)
    np.testing.assert_array_equal(result.adversarial, again.adversarial)


# --- the experiment part ------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["--linf-eps", "-0.1"], "eps"), (["--l2-eps", "a,b"], "comma-separated"),
    (["--norms", "l1"], "unknown"), (["--parts", "tables"], "unknown"),
    (["--classifiers", "distilled"], "unknown")])
def test_adaptive_cli_rejects_bad_options_in_one_line(capsys, argv, message):
    from experiments.adaptive import main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error and message in error


@pytest.mark.slow
def test_adaptive_quick_run_writes_its_outputs_and_resumes(mnist, tmp_path):
    import json
    import os
    from experiments.adaptive import main
    argv = ["--profile", "quick", "--images", "1", "--norms", "linf", "--linf-eps", "0.3",
            "--goals", "untargeted", "--out", str(tmp_path)]
    cells = main(argv)
    assert [(c["classifier"], c["attack"]) for c in cells] == [
        ("point", "EOTPGD-Linf"), ("region", "EOTPGD-Linf"), ("region", "OptMargin"),
        ("region", "EOT-CW-L2")]
    assert all(0 <= c["success_rate"] <= 1 and c["examples"] == 1 for c in cells)
    table = next(p for p in tmp_path.glob("adaptive-r*.json") if not p.name.endswith(".run.json"))
    stem = str(table)[:-len(".json")]
    for suffix in (".md", ".png", ".run.json"):
        assert os.path.exists(stem + suffix), suffix
    written = json.loads(table.read_text())["cells"]
    assert sorted((c["classifier"], c["attack"], c["eps"]) for c in written) == sorted(
        (c["classifier"], c["attack"], c["eps"]) for c in cells)
    assert {c["eps"] for c in written if c["attack"] == "EOTPGD-Linf"} == {0.3}
    again = main(argv)          # every cell is recorded: read back, not attacked again
    assert [c["success_rate"] for c in again] == [c["success_rate"] for c in cells]
    assert all(c["wall_seconds_this_run"] < 30 for c in again)


def test_adaptive_cells_of_several_runs_are_merged_each_with_its_image_count(tmp_path):
    import json
    from experiments.adaptive import merge_cells
    path = tmp_path / "adaptive-r0.2.json"

    def cell(classifier, goal, eps, images, sr):
        return {"classifier": classifier, "attack": "EOTPGD-Linf", "goal": goal, "eps": eps,
                "images": images, "success_rate": sr}

    first = [cell("region", "untargeted", 0.2, 100, 0.5), cell("point", "untargeted", 0.1, 100, 0.2)]
    path.write_text(json.dumps({"radius": 0.2, "cells": merge_cells(str(path), first)}))
    second = [cell("region", "targeted", 0.2, 20, 0.1), cell("region", "untargeted", 0.2, 100, 0.6)]
    merged = merge_cells(str(path), second)
    assert [(c["classifier"], c["goal"], c["eps"], c["images"], c["success_rate"])
            for c in merged] == [("region", "targeted", 0.2, 20, 0.1),
                                 ("point", "untargeted", 0.1, 100, 0.2),
                                 ("region", "untargeted", 0.2, 100, 0.6)]
