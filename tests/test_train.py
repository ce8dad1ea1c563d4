import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from models.train import RECIPES, ResumeMismatch, epoch_dataset, learning_rate_at, main, train

TINY = dict(dataset="mnist", train_limit=256, seed=3, epochs=2, verbose=0)


def test_one_cycle_schedule():
    recipe = RECIPES["cifar10"]
    rates = [learning_rate_at(recipe, e) for e in range(recipe.epochs)]
    assert rates[recipe.warmup_epochs - 1] == pytest.approx(recipe.learning_rate)
    assert rates[0] < rates[1] and rates[-1] < rates[recipe.warmup_epochs]
    assert learning_rate_at(RECIPES["mnist"], 7) == 0.01


def test_epoch_data_is_a_function_of_seed_and_epoch(rng):
    x = rng.random((12, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 12)]
    recipe = RECIPES["cifar10"]
    batches = lambda seed, epoch: [b[0].numpy() for b in epoch_dataset(x, y, recipe, seed, epoch)]
    first, again = batches(0, 1), batches(0, 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = batches(0, 2)
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (12, 32, 32, 3) and not np.array_equal(first[0], x)  # augmented


def _weights(path):
    return keras.models.load_model(path, compile=False).get_weights()


def test_interrupted_run_ends_with_the_weights_of_an_uninterrupted_one(mnist, tmp_path):
    whole = train(out=str(tmp_path / "whole.keras"), **TINY)
    assert whole["epochs_this_run"] == 2 and len(whole["history"]) == 2
    out = str(tmp_path / "cut.keras")
    assert train(out=out, max_epochs_this_run=1, **TINY) is None   # "killed" after epoch 1
    assert not os.path.exists(out)
    resumed = train(out=out, **TINY)
    assert resumed["epochs_this_run"] == 1
    for a, b in zip(_weights(str(tmp_path / "whole.keras")), _weights(out)):
        np.testing.assert_array_equal(a, b)
    assert resumed["validation_accuracy"] == whole["validation_accuracy"]
    saved = json.loads((tmp_path / "cut.json").read_text())
    assert saved["dataset"]["sha256"] == mnist.sha256 and "tensorflow" in saved["packages"]


@pytest.fixture(scope="module")
def interrupted(mnist, tmp_path_factory):
    """The .keras path of a TINY run stopped after its first epoch (checkpoint on disk)."""
    out = str(tmp_path_factory.mktemp("interrupted") / "m.keras")
    assert train(out=out, max_epochs_this_run=1, **TINY) is None
    return out


@pytest.mark.parametrize("change", [dict(seed=4), dict(train_limit=128), dict(temperature=2.0),
                                    dict(optimizer="adam"), dict(learning_rate=0.1),
                                    dict(epochs=3)])
def test_resume_under_other_settings_is_refused(interrupted, change):
    with pytest.raises(ResumeMismatch, match=next(iter(change))):
        train(out=interrupted, **{**TINY, **change})


def test_restart_discards_the_checkpoint(mnist, tmp_path):
    out = str(tmp_path / "m.keras")
    train(out=out, max_epochs_this_run=1, **TINY)
    assert train(out=out, restart=True, max_epochs_this_run=1, **{**TINY, "seed": 4}) is None
    state = json.loads((tmp_path / "m.ckpt" / "state.json").read_text())
    assert state["config"]["seed"] == 4 and state["epochs_done"] == 1


@pytest.mark.slow   # the default suite trains a teacher and a student in tests/test_baselines.py
def test_distillation_trains_on_teacher_soft_labels(mnist, tmp_path):
    teacher = str(tmp_path / "teacher.keras")
    train(dataset="mnist", out=teacher, epochs=1, train_limit=256, temperature=100, verbose=0)
    record = train(dataset="mnist", out=str(tmp_path / "student.keras"), epochs=1,
                   train_limit=256, temperature=100, teacher=teacher, verbose=0)
    assert record["teacher"] == teacher and record["temperature"] == 100


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs: expected an integer >= 1"),
    (["--epochs", "-3"], "--epochs: expected an integer >= 1"),
    (["--train-limit", "0"], "--train-limit: expected an integer >= 1"),
    (["--train-limit", "-5"], "--train-limit: expected an integer >= 1"),
    (["--temperature", "0"], "--temperature: expected a finite number > 0"),
])
def test_cli_rejects_bad_flags_in_one_line(capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: argument {message}, got "
                                                            f"{flags[1]!r}"]


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "models.train", "--out", str(tmp_path / "m.keras"),
                          "--teacher", "/nonexistent/t.keras"], capture_output=True, text=True,
                         timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == "error: teacher /nonexistent/t.keras: file not found"
    assert "Traceback" not in run.stderr and not os.path.exists(tmp_path / "m.keras")
