"""The figure parts (experiments.confidence, adapted, histograms, examples) on cheap fake attacks.

The shipped MNIST model and data are real; `Experiment.attack` is replaced
by a fake that blends each image towards a training image of the target
class (further for a larger confidence k), its success judged by the point
model, so every part runs in seconds. RC and histogram sample counts are
reduced. The figures' numbers are checked against values recomputed in the
test from the fake examples and the models themselves. One test runs a
real, tiny CW-L2 through the records.
"""
import dataclasses
import json
import os

import numpy as np
import pytest

from cw_attacks.compose import wrong_targets
from cw_attacks.registry import norm_of
from cw_attacks.result import AttackResult
from experiments import adapted, confidence, examples, histograms
from experiments.context import cached_judge
from experiments.protocol import get_profile

PROFILE = dataclasses.replace(get_profile("quick", 2), num_samples=64, histogram_samples=200,
                              confidences=(0, 20), alphas=(0.0, 0.5, 1.0))


@pytest.fixture(scope="module")
def base(mnist, tmp_path_factory):
    from experiments.context import Experiment
    return Experiment("mnist", PROFILE, out=str(tmp_path_factory.mktemp("figures")),
                      log=lambda *a: None)


def fake_examples(data, images, name, confidence=0):
    """(x, candidates, targets) of the fake attack: each image with each wrong target,
    moved towards the first training image of the target class."""
    anchors = np.stack([data.x_train[np.flatnonzero(data.y_train == c)[0]] for c in range(10)])
    index, targets = wrong_targets(data.y_test[images])
    x = data.x_test[images][index]
    strength = 0.45 + 0.01 * confidence + (0.1 if name == "CW-L0" else 0)
    return x, (x + strength * (anchors[targets] - x)).astype(np.float32), targets


def model_labels(model, images):
    """Argmax labels of a Keras logits model, computed here (not by the experiments' code)."""
    return np.argmax(np.asarray(model(images, training=False)), axis=1)


def fake_attack(experiment, calls):
    """A stand-in for `Experiment.attack`: `fake_examples`, success judged by the point model."""
    point = experiment.judge("point")

    def attack(classifier, name, images=None, targeted=True, records_name=None, **overrides):
        assert classifier == "point" and targeted
        calls.append((name, records_name or name, overrides))
        images = experiment.images if images is None else np.asarray(images)
        x, candidate, targets = fake_examples(experiment.data, images, name,
                                              overrides.get("confidence", 0))
        return AttackResult.from_images(x, candidate, point(candidate) == targets,
                                        np.ones(len(x), np.int64))

    return attack


@pytest.fixture
def experiment(base, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(base, "out", str(tmp_path))
    monkeypatch.setattr(base, "attack", fake_attack(base, calls))
    base.calls = calls
    return base


def load(experiment, part):
    with open(os.path.join(experiment.out, f"{part}.json")) as f:
        return json.load(f)


def assert_written(experiment, part, figures):
    markdown = open(os.path.join(experiment.out, f"{part}.md")).read()
    for figure in figures:
        assert os.path.getsize(os.path.join(experiment.out, f"{figure}.png")) > 1000
        assert f"]({figure}.png)" in markdown
    assert os.path.exists(os.path.join(experiment.out, f"{part}.run.json"))
    assert "Paper" in markdown and "|---" in markdown
    return markdown


def test_confidence_figures_6_and_7(experiment):
    markdown = confidence.run(experiment)
    assert markdown == open(os.path.join(experiment.out, "confidence.md")).read()
    assert_written(experiment, "confidence", ["figure6", "figure7"])
    assert ("CW-L2", "CW-L2-k20", {"confidence": 20}) in experiment.calls
    assert ("CW-L2", "CW-L2", {"confidence": 0}) in experiment.calls
    data = load(experiment, "confidence")
    for judge in ("point", "region"):
        for k in ("0", "20"):
            targeted, untargeted = data["figure6"][judge][k], data["figure7"][judge][k]
            assert targeted["examples"] == 18 and untargeted["examples"] == 2
            assert untargeted["sr"] >= targeted["sr"]
    # Recomputed here from the examples and the models themselves: targeted SR, and
    # untargeted SR (an image counts if any of its 9 examples leaves the true class).
    point, region = experiment.models["point"], experiment.region
    true = experiment.data.y_test[experiment.images]
    for k in (0, 20):
        _, candidates, targets = fake_examples(experiment.data, experiment.images, "CW-L2", k)
        hit_point = model_labels(point, candidates) == targets
        hit_region = hit_point & (region.predict_labels(candidates) == targets)
        assert data["figure6"]["point"][str(k)]["sr"] == pytest.approx(100 * hit_point.mean())
        assert data["figure6"]["region"][str(k)]["sr"] == pytest.approx(100 * hit_region.mean())
        fooled = (model_labels(point, candidates) != np.repeat(true, 9)) & hit_point
        assert data["figure7"]["point"][str(k)]["sr"] == pytest.approx(
            100 * fooled.reshape(-1, 9).any(axis=1).mean())


def test_confidence_sample_is_the_recorded_prefix_when_point_is_not_attacked(experiment,
                                                                              monkeypatch):
    assert list(confidence.sample(experiment)) == list(experiment.images)  # quick attacks point
    monkeypatch.setattr(experiment, "profile", dataclasses.replace(PROFILE, attacked=()))
    covered = {"count": 1}
    monkeypatch.setattr(experiment, "recorded_images",
                        lambda classifier, names: experiment.images[:covered["count"]])
    assert list(confidence.sample(experiment)) == list(experiment.images[:1])
    covered["count"] = 0  # nothing recorded: the whole sample, so attack() names what is missing
    assert list(confidence.sample(experiment)) == list(experiment.images)


def test_adapted_figures_8_and_9(experiment):
    adapted.run(experiment)
    markdown = assert_written(experiment, "adapted", ["figure8", "figure9"])
    assert "alpha = 1" in markdown
    data = load(experiment, "adapted")
    point, region = experiment.models["point"], experiment.region
    for column, name in adapted.ATTACKS.items():
        norm = norm_of(name)
        # alpha = 0: the examples unchanged, so the RC SR is recomputed here from them.
        x, candidates, targets = fake_examples(experiment.data, experiment.images, name)
        produced = model_labels(point, candidates) == targets
        on_target = produced & (region.predict_labels(candidates) == targets)
        cells = data["figure8"][column]
        assert cells["0.0"]["sr"] == pytest.approx(100 * on_target.mean())
        assert cells["0.0"]["noise_factor"] == pytest.approx(1.0)
        if norm == "l2" and on_target.any():
            noise = np.sqrt(((candidates - x) ** 2).sum(axis=(1, 2, 3)))[on_target].mean()
            assert cells["0.0"]["noise"] == pytest.approx(noise, rel=1e-3)
        if norm != "l0" and cells["1.0"]["noise_factor"] is not None:
            assert 1.0 < cells["1.0"]["noise_factor"] <= 2.0 + 1e-6
    rows = data["figure9"]["rows"]
    assert data["figure9"]["alpha"] == 1.0
    assert [r["true_label"] for r in rows] == sorted(experiment.data.y_test[experiment.images])


def test_adapted_result_scales_noise_and_keeps_alpha_zero_exact(rng):
    x = rng.uniform(0.3, 0.7, (4, 3, 3, 1)).astype(np.float32)
    x_adv = np.clip(x + rng.uniform(-0.1, 0.1, x.shape), 0, 1).astype(np.float32)
    result = AttackResult.from_images(x, x_adv, np.array([1, 1, 0, 1], bool), np.zeros(4))
    same = adapted.adapted_result(x, result, 0.0)
    assert np.array_equal(same.adversarial, result.adversarial)
    doubled = adapted.adapted_result(x, result, 1.0)
    np.testing.assert_allclose(doubled.l2, 2 * result.l2, rtol=1e-5)
    assert not doubled.success[2] and doubled.l2[2] == 0


def test_histograms_figure_2(experiment):
    histograms.run(experiment)
    markdown = assert_written(experiment, "histograms", ["figure2a", "figure2b", "figure2c"])
    data = load(experiment, "histograms")
    index, note = histograms.pick_image(experiment)
    assert data["test_index"] == index
    labels = experiment.data.y_test[experiment.images]
    assert (note == "") == (0 in labels)
    if note:
        assert "no image of label 0" in markdown
    assert sum(data["benign"]) == PROFILE.histogram_samples
    assert np.argmax(data["benign"]) == data["true_label"]
    assert set(data["attacks"]) == {"T-CW-L2", "T-CW-L0", "T-CW-L∞"}
    for attack in data["attacks"].values():
        counts = np.asarray(attack["counts"])
        assert counts.shape == (9, 10)
        assert (counts.sum(axis=1) == PROFILE.histogram_samples).all()
        assert data["true_label"] not in attack["targets"]
    assert all(call[2] == {} for call in experiment.calls)


def test_examples_figures_1_and_5(experiment):
    markdown = examples.run(experiment)
    assert_written(experiment, "examples", ["figure1", "figure5"])
    data = load(experiment, "examples")
    labels = experiment.data.y_test[experiment.images]
    present = sorted(set(labels.tolist()))
    for figure in ("figure1", "figure5"):
        rows = data[figure]
        assert [r["true_label"] for r in rows] == present
        for r in rows:
            assert len(r["rc_labels"]) == 10 and r["produced"][r["true_label"]]
            assert r["rc_labels"][r["true_label"]] == r["true_label"]  # benign diagonal
    if len(present) < 10:
        assert "rows are blank" in markdown
    assert ("CW-L2", "CW-L2-k20", {"confidence": 20}) in experiment.calls


def test_examples_skips_figure_5_without_k20(experiment, monkeypatch):
    monkeypatch.setattr(experiment, "profile", dataclasses.replace(PROFILE, confidences=(0,)))
    markdown = examples.run(experiment)
    assert "Figure 5 skipped" in markdown
    assert not os.path.exists(os.path.join(experiment.out, "figure5.png"))
    assert load(experiment, "examples")["figure5"] is None


def test_cached_judge_judges_each_image_once(rng):
    seen = []

    def judge(images):
        seen.append(len(images))
        return images.reshape(len(images), -1).sum(axis=1).round().astype(int)

    cached = cached_judge(judge)
    x = rng.uniform(0, 1, (3, 2, 2, 1)).astype(np.float32)
    first = cached(np.concatenate([x, x[:1]]))
    again = cached(x[::-1])
    assert seen == [3]
    assert list(again) == list(first[:3][::-1]) and first[3] == first[0]


def test_confidence_on_a_real_tiny_attack(base, tmp_path, monkeypatch):
    """Real CW-L2 (2 iterations) on 1 image through the records; k = 0 only."""
    monkeypatch.setattr(base, "out", str(tmp_path))
    monkeypatch.setattr(base, "images", base.images[:1])
    monkeypatch.setattr(base, "profile", dataclasses.replace(PROFILE, images=1, confidences=(0,)))
    real = type(base).attack.__get__(base)
    monkeypatch.setattr(base, "attack", lambda *a, **kw: real(
        *a, binary_search_steps=1, max_iterations=2, **kw))
    confidence.run(base)
    data = load(base, "confidence")
    assert data["figure6"]["point"]["0"]["examples"] == 9
    assert os.path.exists(os.path.join(tmp_path, "attacks", "point", "CW-L2.jsonl"))
    assert data["figure7"]["point"]["0"]["sr"] >= data["figure6"]["point"]["0"]["sr"]
