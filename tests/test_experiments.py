"""The experiment protocol, its resumable records, the tables and the quick reproduction."""
import json
import os

import numpy as np
import pytest

from cw_attacks.result import AttackResult
from experiments.attack_records import AttackRecords
from experiments.paper_values import TABLE4, TABLE4_COLUMNS, paper_cells
from experiments.protocol import get_profile, select_images, targeted_examples
from experiments.tables import cell, render, sample_sizes


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
    with pytest.raises(ValueError, match="another attack setting"):
        again.run(ShiftAttack(tiny_cnn, shift=0.2), x_test, y_test, [4], log=lambda _: None)


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


def test_quick_reproduction_writes_every_part_and_resumes(tmp_path, mnist):
    """The main job's code path, on 1 image with tiny settings (about 2 minutes on 2 cores)."""
    from experiments import reproduce
    from experiments.report import PARTS
    from experiments.tables import load

    out = str(tmp_path / "run")
    lines = []
    reproduce.main(["--dataset", "mnist", "--profile", "quick", "--images", "1", "--out", out],
                   log=lines.append)
    for part in PARTS:
        assert os.path.exists(os.path.join(out, f"{part}.md")), part
        with open(os.path.join(out, f"{part}.run.json")) as f:
            record = json.load(f)
        assert record["seed"] is not None and record["packages"]["tensorflow"]
        assert record["data"]["sha256"] == mnist.sha256
    report = open(os.path.join(out, "REPORT.md")).read()
    assert "Not run yet" not in report and "(100%)" in report and "figure4.png" in report
    table4 = load(out, "table4")
    assert table4["point"]["T-CW-L2"]["examples"] == 9
    assert 0 <= table4["region"]["T-CW-L2"]["sr"] <= table4["point"]["T-CW-L2"]["sr"]
    assert any(line.startswith("T-CW-L2") for line in lines)
    # Re-running attacks nothing: every record is already on disk.
    lines.clear()
    reproduce.main(["--dataset", "mnist", "--profile", "quick", "--images", "1", "--out", out,
                    "--parts", "table4,table5"], log=lines.append)
    assert not any("s/image" in line for line in lines)
