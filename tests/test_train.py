import json
import os

import keras
import pytest

from models.train import RECIPES, learning_rate_at, train


def test_one_cycle_schedule():
    recipe = RECIPES["cifar10"]
    rates = [learning_rate_at(recipe, e) for e in range(recipe.epochs)]
    assert rates[recipe.warmup_epochs - 1] == pytest.approx(recipe.learning_rate)
    assert rates[0] < rates[1] and rates[-1] < rates[recipe.warmup_epochs]
    assert learning_rate_at(RECIPES["mnist"], 7) == 0.01


def test_interrupted_training_resumes(mnist, tmp_path):
    out = str(tmp_path / "tiny.keras")
    common = dict(dataset="mnist", out=out, train_limit=256, seed=3, verbose=0)
    train(epochs=1, **common)            # "interrupted" after one epoch of two
    record = train(epochs=2, **common)   # resumes: runs only the second epoch
    assert record["epochs"] == 2 and record["epochs_this_run"] == 1
    with open(os.path.join(str(tmp_path / "tiny.ckpt"), "state.json")) as f:
        assert json.load(f)["epochs_done"] == 2
    model = keras.models.load_model(out, compile=False)
    assert model.predict(mnist.x_test[:4], verbose=0).shape == (4, 10)
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["dataset"]["sha256"] == mnist.sha256 and "tensorflow" in saved["packages"]
    assert 0.0 <= saved["test_accuracy"] <= 1.0


def test_distillation_trains_on_teacher_soft_labels(mnist, tmp_path):
    teacher = str(tmp_path / "teacher.keras")
    train(dataset="mnist", out=teacher, epochs=1, train_limit=256, temperature=100, verbose=0)
    record = train(dataset="mnist", out=str(tmp_path / "student.keras"), epochs=1,
                   train_limit=256, temperature=100, teacher=teacher, verbose=0)
    assert record["teacher"] == teacher and record["temperature"] == 100
