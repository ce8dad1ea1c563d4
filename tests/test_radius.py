"""Algorithm 1 (`learn_radius`) on a toy problem, and the radius CLI with resume."""
import dataclasses
import json
import os

import numpy as np
import pytest

import rc_keras.radius
import rc_keras.search
from models.store import ConfigMismatch
from rc_keras import learn_radius
from rc_keras.radius import learned_radius_path, main, region_radius
from toy_models import constant_model, mean_threshold_problem


@pytest.mark.parametrize("early_stop", [True, False])
def test_learn_radius_returns_the_last_radius_that_keeps_accuracy(early_stop):
    model, x, y = mean_threshold_problem()
    result = learn_radius(model, x, y, r0=0.0, step=0.1, num_samples=200, early_stop=early_stop)
    assert result.radius == pytest.approx(0.2)
    assert result.point_accuracy == 1.0
    assert [r for r, _ in result.curve] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [a for _, a in result.curve] == [1.0, 1.0, 1.0, 0.5]
    assert not result.reached_max_radius
    assert result.forward_passes > 0


def test_curve_to_extends_the_curve_but_not_the_learned_radius():
    model, x, y = mean_threshold_problem()
    result = learn_radius(model, x, y, step=0.1, num_samples=200, curve_to=0.5)
    assert result.radius == pytest.approx(0.2) and not result.reached_max_radius
    assert [r for r, _ in result.curve] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert [a for _, a in result.curve][:4] == [1.0, 1.0, 1.0, 0.5]
    capped = learn_radius(model, x, y, step=0.1, num_samples=200, curve_to=0.5, max_radius=0.4)
    assert capped.radius == pytest.approx(0.2)
    assert [r for r, _ in capped.curve] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_resumed_search_keeps_the_curve_an_earlier_run_measured():
    model, x, y = mean_threshold_problem()
    seen = []
    first = learn_radius(model, x, y, step=0.1, num_samples=200, curve_to=0.5,
                         on_radius=seen.append)
    done = {rc_keras.search.radius_key(s["radius"]): s for s in seen}
    again = learn_radius(model, x, y, step=0.1, num_samples=200, done=done,
                         on_radius=lambda record: pytest.fail("nothing should be recomputed"))
    assert again.curve == first.curve and again.radius == pytest.approx(0.2)
    del done[rc_keras.search.radius_key(0.4)]    # a gap ends the free extension
    assert [r for r, _ in learn_radius(model, x, y, step=0.1, num_samples=200,
                                       done=done).curve] == pytest.approx([0, 0.1, 0.2, 0.3])


def test_learn_radius_stops_at_max_radius_and_resumes():
    model, x, y = mean_threshold_problem()
    seen = []
    result = learn_radius(model, x, y, step=0.1, num_samples=50, max_radius=0.2,
                          on_radius=seen.append)
    assert result.reached_max_radius and result.radius == pytest.approx(0.2)
    assert [s["radius"] for s in seen] == pytest.approx([0.0, 0.1, 0.2])
    assert seen[0]["forward_passes"] == 2         # r = 0: one pass per image
    done = {"0.000000": {"correct": 2}, "0.100000": {"correct": 2}}
    again = learn_radius(model, x, y, step=0.1, num_samples=50, max_radius=0.2, done=done)
    assert again.curve == result.curve


def test_learn_radius_rejects_bad_arguments():
    model, x, y = mean_threshold_problem()
    with pytest.raises(ValueError, match="step"):
        learn_radius(model, x, y, step=0.0)
    with pytest.raises(ValueError, match="y_val"):
        learn_radius(model, x, y[:1])
    with pytest.raises(ValueError, match="max_radius"):
        learn_radius(model, x, y, r0=0.5, max_radius=0.1)


def test_cli_writes_curve_and_figure_and_resumes(mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rc_keras.radius, "load_dataset", lambda name, data_dir=None: mnist)
    model_path = str(tmp_path / "constant.keras")
    constant_model((28, 28, 1), 1).save(model_path)
    out = tmp_path / "out"
    argv = ["--dataset", "mnist", "--model", model_path, "--out", str(out), "--limit", "20",
            "--num-samples", "8", "--max-radius", "0.02"]
    result, passes = main(argv)
    assert result.reached_max_radius and len(result.curve) == 3
    assert len((out / "steps.jsonl").read_text().splitlines()) == 3
    saved = json.loads((out / "radius.json").read_text())
    assert saved["radius"] == pytest.approx(0.02) and len(saved["curve"]) == 3
    assert passes == saved["forward_passes"] == sum(s["forward_passes"] for s in saved["steps"])
    assert saved["run"]["config"]["limit"] == 20 and saved["run"]["data"]["dataset"] == "mnist"
    assert (out / "figure4.png").stat().st_size > 0

    # a re-run computes nothing that is finished, and a longer one only the new radius
    def refuse(*args, **kwargs):
        raise AssertionError("a finished radius was recomputed")
    with monkeypatch.context() as patch:
        patch.setattr(rc_keras.search.RegionClassifier, "vote_counts", refuse)
        before = (out / "radius.json").read_text()
        assert main(argv)[0].curve == result.curve
        assert (out / "radius.json").read_text() == before  # keeps the run that made it
    main(argv[:-1] + ["0.03"])
    assert len((out / "steps.jsonl").read_text().splitlines()) == 4
    assert len(json.loads((out / "radius.json").read_text())["curve"]) == 4
    with pytest.raises(ConfigMismatch, match="num_samples: recorded 8, now 9"):
        main(argv[:-3] + ["9", "--max-radius", "0.02"])


def test_the_learned_radius_has_one_home_and_no_silent_fallback(mnist, tmp_path, monkeypatch):
    """A run on the shipped model and every validation image writes rc_keras/radii/<dataset>.json
    (here redirected), which `region_radius` reads; a limited run does not; a missing learned
    radius is an error unless the paper's is chosen."""
    small = dataclasses.replace(mnist, x_val=mnist.x_val[:16], y_val=mnist.y_val[:16])
    monkeypatch.setattr(rc_keras.radius, "load_dataset", lambda name, data_dir=None: small)
    monkeypatch.setattr(rc_keras.radius, "RADII_DIR", str(tmp_path / "radii"))
    with pytest.raises(FileNotFoundError, match="--radius paper"):
        region_radius("mnist")
    assert region_radius("mnist", "paper") == (0.3, "the paper's value, chosen explicitly")
    with pytest.raises(ValueError, match="unknown radius choice 'guess'"):
        region_radius("mnist", "guess")
    kwargs = dict(out=str(tmp_path / "run"), num_samples=8, max_radius=0.01, log=lambda _: None)
    rc_keras.radius.run("mnist", limit=8, **kwargs | {"out": str(tmp_path / "limited")})
    assert not os.path.exists(learned_radius_path("mnist"))
    result, _ = rc_keras.radius.run("mnist", **kwargs)
    assert learned_radius_path("mnist") == str(tmp_path / "radii" / "mnist.json")
    radius, source = region_radius("mnist")
    assert radius == result.radius and "mnist.json" in source


@pytest.mark.slow
def test_two_radius_processes_on_one_out_share_the_work(mnist, tmp_path):
    """Issue 11 item 4 as reported: two `python -m rc_keras.radius ... --out D` at once used to
    both compute every radius and write every key twice. Now the second waits for the first
    and reuses its radii: each radius is computed and recorded once."""
    import subprocess
    import sys

    model_path = str(tmp_path / "constant.keras")
    constant_model((28, 28, 1), 1).save(model_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rc_keras.radius", "--dataset", "mnist", "--model",
               model_path, "--out", str(out), "--limit", "8", "--num-samples", "8",
               "--max-radius", "0.05"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    computed = sum(line.startswith("r = ") for text in outputs for line in text.splitlines())
    keys = [json.loads(line)["key"] for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 6 and computed == 6
    assert {json.loads((out / "radius.json").read_text())["radius"]} == {0.05}
