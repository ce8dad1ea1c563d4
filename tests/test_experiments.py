"""The experiment protocol, its resumable records, the tables and the quick reproduction."""
import json
import os
import types

import numpy as np
import pytest

from cw_attacks.l2 import CarliniL2
from cw_attacks.registry import ATTACKS
from cw_attacks.result import AttackResult
from experiments.attack_records import AttackRecords
from experiments.cli import parser, profile_from
from experiments.context import Experiment
from experiments.paper_values import TABLE4, TABLE4_COLUMNS, paper_cells
from experiments.protocol import get_profile, select_images, targeted_examples
from experiments.tables import cell, render, sample_sizes
from models.records import weights_sha256
from models.store import ConfigMismatch


class ShiftAttack:
    """A cheap stand-in attack: moves every pixel by +0.1, counts its calls."""

    def __init__(self, model, shift=0.1):
        self.model, self.shift, self._calls = model, shift, []

    def attack(self, x, labels):
        self._calls.append(len(x))
        adversarial = np.clip(x + self.shift, 0, 1)
        return AttackResult.from_images(x, adversarial, np.asarray(labels) % 2 == 0,
                                        np.full(len(x), 7))


def test_select_images_is_a_seeded_random_draw_whose_prefixes_are_draws():
    truth = np.arange(1000) % 10
    predicted = truth.copy()
    predicted[::3] = (predicted[::3] + 1) % 10            # every third image is wrong
    draw = select_images(predicted, truth, 100, seed=1)
    assert len(set(draw)) == 100 and np.all(predicted[draw] == truth[draw])
    assert np.array_equal(select_images(predicted, truth, 20, seed=1), draw[:20])
    assert not np.array_equal(select_images(predicted, truth, 20, seed=2), draw[:20])
    assert not np.array_equal(np.sort(draw[:20]), draw[:20])  # not the first correct images
    with pytest.raises(ValueError, match="only 666"):
        select_images(predicted, truth, 700)


def test_profiles_and_their_errors():
    assert get_profile("paper").images == 100 and get_profile("paper").attack_settings == "reference"
    assert get_profile("paper", 20).images == 20
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_profile("fast")
    with pytest.raises(ValueError, match="positive integer"):
        get_profile("quick", 0)


def test_targeted_examples_are_image_major_with_every_wrong_label():
    x = np.arange(2 * 4, dtype=np.float32).reshape(2, 2, 2, 1) / 10
    images, targets = targeted_examples(x, np.array([3, 0]))
    assert images.shape == (18, 2, 2, 1)
    assert targets[:9].tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert np.array_equal(images[9], x[1])


def test_attack_records_resume_and_grow_without_redoing(tmp_path, tiny_cnn, rng):
    x_test = rng.uniform(0, 1, (12, 8, 8, 1)).astype(np.float32)
    y_test = np.arange(12) % 10
    attack = ShiftAttack(tiny_cnn)
    records = AttackRecords(str(tmp_path), "shift")
    first = records.run(attack, x_test, y_test, [4, 2, 7], images_per_call=2, log=lambda _: None)
    assert attack._calls == [18, 9]                       # 2 images then 1, 9 targets each
    assert len(first) == 27 and first.iterations.tolist() == [7] * 27
    # A new object on the same directory (a restarted run) attacks only the new image.
    again = AttackRecords(str(tmp_path), "shift")
    grown = again.run(attack, x_test, y_test, [4, 2, 7, 9], images_per_call=2, log=lambda _: None)
    assert attack._calls == [18, 9, 9]
    assert np.array_equal(grown.adversarial[:27], first.adversarial)
    assert np.array_equal(again.labels([2])[:3], [0, 1, 3])  # image 2's wrong targets
    # Records are whole lines, one per image; images live in their own files.
    with open(tmp_path / "shift.jsonl") as f:
        assert [json.loads(line)["key"] for line in f] == \
            ["test-00004", "test-00002", "test-00007", "test-00009"]
    assert sorted(os.listdir(tmp_path / "shift"))[0] == "test-00002.npz"
    with pytest.raises(KeyError, match="no record of test image 5"):
        again.result([5])
    with pytest.raises(ConfigMismatch, match="shift: recorded 0.1, now 0.2"):
        again.run(ShiftAttack(tiny_cnn, shift=0.2), x_test, y_test, [4], log=lambda _: None)


def test_records_resume_at_another_batch_size_unless_it_changes_results(tmp_path, tiny_cnn,
                                                                        rng):
    """A campaign begun at one batch size (a CPU's) resumes at another (a GPU's); an attack
    that draws its randomness per batch is refused, as for any other setting."""
    x_test = rng.uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    settings = dict(binary_search_steps=1, max_iterations=3)
    quiet = dict(log=lambda _: None)
    records = AttackRecords(str(tmp_path), "cw")
    records.run(CarliniL2(tiny_cnn, batch_size=4, **settings), x_test, np.arange(4), [0], **quiet)
    grown = records.run(CarliniL2(tiny_cnn, batch_size=9, **settings), x_test, np.arange(4),
                        [0, 1], **quiet)
    assert len(grown) == 18 and records.store.run["config"]["batch_size"] == 4
    with pytest.raises(ConfigMismatch, match="max_iterations: recorded 3, now 4"):
        records.run(CarliniL2(tiny_cnn, batch_size=9, binary_search_steps=1, max_iterations=4),
                    x_test, np.arange(4), [0, 1, 2], **quiet)

    class PerBatchNoise(CarliniL2):
        results_depend_on_batch_size = True

    noisy = AttackRecords(str(tmp_path), "noisy")
    noisy.run(PerBatchNoise(tiny_cnn, batch_size=4, **settings), x_test, np.arange(4), [0],
              **quiet)
    with pytest.raises(ConfigMismatch, match="batch_size: recorded 4, now 9"):
        noisy.run(PerBatchNoise(tiny_cnn, batch_size=9, **settings), x_test, np.arange(4),
                  [0, 1], **quiet)
    # The adaptive attacks draw noise per batch; the paper's attacks do not.
    assert all(ATTACKS[name].cls.results_depend_on_batch_size
               for name in ("EOTPGD-Linf", "OptMargin", "EOT-CW-L2"))
    assert not any(ATTACKS[name].cls.results_depend_on_batch_size
                   for name in ("CW-L2", "CW-L0", "CW-Linf", "FGSM", "IGSM", "JSMA", "DeepFool"))


def test_batch_size_and_images_per_call_options_reach_the_profile_and_the_attacks(tiny_cnn):
    args = parser("test").parse_args(["--profile", "paper", "--images", "40", "--batch-size",
                                      "900", "--images-per-call", "100"])
    profile = profile_from(args)
    assert (profile.images, profile.batch_size, profile.images_per_call) == (40, 900, 100)
    default = profile_from(parser("test").parse_args(["--profile", "paper"]))
    assert (default.batch_size, default.images_per_call) == (None, 25)
    experiment = types.SimpleNamespace(profile=profile)   # build_attack reads only the profile
    assert Experiment.build_attack(experiment, "CW-L2", tiny_cnn, True).batch_size == 900
    assert Experiment.build_attack(experiment, "JSMA", tiny_cnn, True, batch_size=3).batch_size == 3
    experiment.profile = default
    assert Experiment.build_attack(experiment, "JSMA", tiny_cnn, True).batch_size == 16


def test_attack_records_are_tied_to_the_weights_and_data(tmp_path, tiny_cnn, rng):
    """Issue 11 item 1: another network of the same architecture, or other data, is refused
    (both when attacking and when only reading), naming what changed."""
    import keras

    x_test = rng.uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    data = {"dataset": "toy", "sha256": "aaa"}
    records = AttackRecords(str(tmp_path), "shift")
    records.run(ShiftAttack(tiny_cnn), x_test, np.arange(4), [0], data_record=data,
                log=lambda _: None)
    other = keras.models.clone_model(tiny_cnn)
    other.set_weights([w * 0.5 for w in tiny_cnn.get_weights()])
    with pytest.raises(ConfigMismatch, match="model_sha256: recorded"):
        records.run(ShiftAttack(other), x_test, np.arange(4), [0, 1], data_record=data,
                    log=lambda _: None)
    with pytest.raises(ConfigMismatch, match='data_sha256: recorded "aaa", now "bbb"'):
        records.run(ShiftAttack(tiny_cnn), x_test, np.arange(4), [0], log=lambda _: None,
                    data_record={"dataset": "toy", "sha256": "bbb"})
    reader = AttackRecords(str(tmp_path), "shift")
    reader.check_made_on(weights_sha256(tiny_cnn), "aaa")          # the right ones pass
    with pytest.raises(ConfigMismatch, match="another model or data"):
        reader.check_made_on(weights_sha256(other), "aaa")


def test_untargeted_records_hold_one_example_per_image(tmp_path, tiny_cnn, rng):
    x_test = rng.uniform(0, 1, (5, 8, 8, 1)).astype(np.float32)
    records = AttackRecords(str(tmp_path), "shift-u")
    result = records.run(ShiftAttack(tiny_cnn), x_test, np.arange(5), [0, 3], targeted=False,
                         log=lambda _: None)
    assert len(result) == 2 and records.labels([0, 3]).tolist() == [0, 3]


def test_tables_render_measured_beside_the_paper():
    result = AttackResult.from_images(np.zeros((4, 2, 2, 1), np.float32),
                                      np.full((4, 2, 2, 1), 0.5, np.float32),
                                      [True, True, False, True], [1, 1, 1, 1])
    measured = {"point": {"T-CW-L2": cell(result, "l2", images=1)}}
    assert measured["point"]["T-CW-L2"]["sr"] == 75.0
    assert measured["point"]["T-CW-L2"]["noise"] == pytest.approx(1.0)
    text = render("Table 4 (mnist)", TABLE4_COLUMNS, measured,
                  paper_cells(TABLE4, TABLE4_COLUMNS, "mnist"))
    point_row = next(line for line in text.splitlines() if line.startswith("| Point-based"))
    assert "75% (100%)" in point_row and "1 (2.01)" in point_row
    assert "not run (38%)" in point_row                  # T-FGSM was not measured
    region_row = next(line for line in text.splitlines() if line.startswith("| Region-based"))
    assert "not run (0.2%)" in region_row
    assert "Point-based: 1 benign images (4 examples)" in text


def test_sample_sizes_name_the_columns_when_a_row_mixes_samples():
    cells = {"T-JSMA": {"images": 20, "examples": 180}, "T-CW-L2": {"images": 10, "examples": 90},
             "T-FGSM": {"images": 20, "examples": 180}}
    assert sample_sizes(cells) == ("20 benign images (180 examples) for T-JSMA, T-FGSM and "
                                   "10 benign images (90 examples) for T-CW-L2")
    assert sample_sizes({"T-JSMA": cells["T-JSMA"]}) == "20 benign images (180 examples)"


# The quick reproduction of the tests: every part, 1 image, tiny sample counts and attacks.
TINY_PROFILE = dict(images=1, accuracy_images=40, num_samples=64, images_per_call=1,
                    histogram_samples=100, radius_images=12, alphas=(0.0, 1.0))
TINY_ATTACKS = {"CW-L2": {"binary_search_steps": 2, "max_iterations": 20},
                "CW-L0": {"max_iterations": 5, "largest_const": 2.0},
                "CW-Linf": {"max_iterations": 5, "largest_const": 0.1},
                "JSMA": {"gamma": 0.1}, "FGSM": {"eps_grid": (0.3, 1.0), "bisection_steps": 1},
                "IGSM": {"eps_grid": (0.3,), "bisection_steps": 1},
                "DeepFool": {"max_iterations": 10}}
TINY_CERTIFY = dict(images=2, num_samples=100, selection_samples=20)


@pytest.fixture(scope="module")
def quick_run(mnist, tmp_path_factory):
    """`experiments.reproduce` on the quick profile shrunk to 1 image and tiny settings,
    run once for the module: (results directory, its log lines, the second run's lines)."""
    import dataclasses

    from cw_attacks import registry
    from experiments import protocol, reproduce
    from experiments.report import PARTS

    out = str(tmp_path_factory.mktemp("quick") / "run")
    argv = ["--dataset", "mnist", "--profile", "quick", "--out", out]
    lines, again = [], []
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(protocol.PROFILES, "quick",
                      dataclasses.replace(protocol.PROFILES["quick"], **TINY_PROFILE))
        for name, settings in TINY_ATTACKS.items():
            entry = registry.ATTACKS[name]
            patch.setitem(registry.ATTACKS, name,
                          dataclasses.replace(entry, quick={**entry.quick, **settings}))
        if "certify" in PARTS:   # the part added beyond the paper, at its smallest too
            from experiments import certify
            patch.setitem(certify.SETTINGS, "quick",
                          dataclasses.replace(certify.SETTINGS["quick"], **TINY_CERTIFY))
        reproduce.main(argv, log=lines.append)
        reproduce.main(argv + ["--parts", "table5"], log=again.append)
    return out, lines, again


def test_quick_reproduction_writes_every_part(quick_run, mnist):
    """The main job's code path end to end: every part writes its Markdown and run record."""
    from experiments.report import PARTS
    from experiments.tables import load

    out, lines, _ = quick_run
    for part in PARTS:
        assert os.path.exists(os.path.join(out, f"{part}.md")), part
        with open(os.path.join(out, f"{part}.run.json")) as f:
            record = json.load(f)
        assert record["seed"] is not None and record["packages"]["tensorflow"]
        assert record["data"]["sha256"] == mnist.sha256
    report = open(os.path.join(out, "REPORT.md")).read()
    assert "Not run yet" not in report and "Not run:" not in report and "(100%)" in report
    assert "figure4.png" in report
    assert load(out, "table4")["point"]["T-CW-L2"]["examples"] == 9
    assert any(line.startswith("T-CW-L2") for line in lines)


def test_quick_tables_agree_with_the_records(quick_run, mnist):
    """Table 4's point cells, recomputed here from the raw JSON lines, and Table 5's DeepFool."""
    from experiments.tables import load

    out, _, _ = quick_run
    table4, table5 = load(out, "table4"), load(out, "table5")
    norms = {"T-JSMA": ("JSMA", "l0"), "T-CW-L0": ("CW-L0", "l0"), "T-FGSM": ("FGSM", "linf"),
             "T-IGSM": ("IGSM", "linf"), "T-CW-Linf": ("CW-Linf", "linf"),
             "T-CW-L2": ("CW-L2", "l2")}
    for column, (name, norm) in norms.items():
        with open(os.path.join(out, "attacks", "point", f"{name}.jsonl")) as f:
            (line,) = [json.loads(line)["record"] for line in f]
        success = np.asarray(line["success"])
        assert table4["point"][column]["sr"] == pytest.approx(100 * success.mean()), column
        if success.any():
            noise = np.asarray(line[norm])[success].mean()
            assert table4["point"][column]["noise"] == pytest.approx(noise, rel=1e-3), column
        # RC judges the same examples and counts only those the attack produced
        assert table4["region"][column]["sr"] <= table4["point"][column]["sr"], column
    with open(os.path.join(out, "attacks", "point", "DeepFool.jsonl")) as f:
        (line,) = [json.loads(line)["record"] for line in f]
    assert table5["point"]["DeepFool"]["sr"] == pytest.approx(100.0 * line["success"][0])


def test_quick_reproduction_resumes_without_attacking(quick_run):
    """Table 5 needs Table 4's records and DeepFool's: all on disk, nothing is attacked."""
    _, _, again = quick_run
    assert any(line.startswith("== table5") for line in again)
    assert not any("s/image" in line for line in again)


def test_a_part_imports_no_other_part():
    """Issue 10: shared pieces live in non-part modules (plan, grid, tables, ...)."""
    import ast

    from experiments.report import PARTS

    for part in PARTS:
        source = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments",
                                   f"{part}.py")).read()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            imported = {n.split(".")[1] for n in names if n.startswith("experiments.")}
            assert not imported & (set(PARTS) - {part}), (part, imported & set(PARTS))


def test_quick_tables_judge_the_region_rows_at_the_paper_radius_too(quick_run):
    """Issue 12 item 5: at the learned r, Tables 4-6 also judge the point classifier's
    records with the same RC (m, seed, early stop) at the paper's r; a run at the
    paper's r has one region-based row."""
    import dataclasses

    from experiments import protocol, table4
    from experiments.context import Experiment
    from experiments.tables import load
    from rc_keras import RegionClassifier
    from rc_keras.radius import PAPER_RADIUS, region_radius

    out = quick_run[0]
    learned, paper = region_radius("mnist")[0], PAPER_RADIUS["mnist"]
    assert learned != paper
    for part in ("table4", "table5", "table6"):
        data = load(out, part)
        assert set(data["region-paper"]) == set(data["region"]) == set(data["point"]), part
        assert {c["radius"] for c in data["region"].values()} == {learned}, part
        assert {c["radius"] for c in data["region-paper"].values()} == {paper}, part
        assert all("radius" not in c for c in data["point"].values()), part
        rows = [line.split(" | ")[0] for line in open(os.path.join(out, f"{part}.md"))
                if line.startswith("| Region-based")]
        assert rows == [f"| Region-based (r = {learned:g}, learned)",
                        f"| Region-based (r = {paper:g}, paper)"], part
    # One cell recomputed from the records with an RC of its own at the paper's r.
    profile = dataclasses.replace(protocol.PROFILES["quick"], **TINY_PROFILE)
    experiment = Experiment("mnist", profile, out=out, log=lambda _: None, radius="paper")
    images = experiment.images
    records = experiment.records("point", "CW-L2")
    result, targets = records.result(images), records.labels(images)
    rc = RegionClassifier(experiment.models["point"], paper, profile.num_samples,
                          seed=profile.rc_seed, early_stop=True)
    hit = result.success & (rc.predict_labels(result.adversarial) == targets)
    table = load(out, "table4")
    assert table["region-paper"]["T-CW-L2"]["sr"] == pytest.approx(100 * hit.mean())
    if hit.any():
        assert table["region-paper"]["T-CW-L2"]["noise"] == pytest.approx(result.l2[hit].mean())
    # At the paper's r the run's own RC is the paper's: no second row, the same numbers.
    assert experiment.region_radii == {"region": paper}
    measured = table4.measure(experiment)
    assert "region-paper" not in measured
    assert measured["region"] == table["region-paper"]


def test_figure4_names_the_radius_the_other_parts_use(tmp_path, monkeypatch, mnist):
    """A paper-profile run at --radius paper must not claim its parts use the learned r."""
    import dataclasses
    from experiments import figure4, protocol
    from experiments.context import Experiment
    from rc_keras.search import RadiusSearch

    def fake_search(dataset, out, **kwargs):   # Algorithm 1 on 5,000 images: not here
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "figure4.png"), "wb").close()
        return RadiusSearch(0.2, 0.99, ((0.0, 0.99), (0.1, 0.99), (0.2, 0.99), (0.21, 0.98)),
                            False, 10), 10

    monkeypatch.setattr(figure4.rc_radius, "run", fake_search)
    monkeypatch.setattr(figure4, "RESULTS_DIR", str(tmp_path / "results"))
    profile = dataclasses.replace(protocol.PROFILES["quick"], **{**TINY_PROFILE, "radius_images": 0})
    for choice, claim in (("paper", "use r = 0.3 (the paper's value"),
                          ("learned", "use this radius")):
        out = tmp_path / choice
        experiment = Experiment("mnist", profile, out=str(out), log=lambda _: None,
                                radius=choice)
        assert claim in figure4.run(experiment)
