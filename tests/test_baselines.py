"""The baseline-defence pipelines (experiments.baselines) on 64 MNIST images, 1 epoch."""
import json
import os

import keras
import numpy as np
import pytest

from experiments import baselines
from models import pretrained
from models.train import load_extra_train

LIMIT = 64


def _mtimes(folder):
    return {os.path.join(root, name): os.path.getmtime(os.path.join(root, name))
            for root, _, names in os.walk(folder) for name in names}


def _forbid(monkeypatch, *names):
    """Make the expensive steps raise, to prove a rerun skips them."""
    def fail(*args, **kwargs):
        raise AssertionError("a finished step ran again")
    for name in names:
        monkeypatch.setattr(baselines, name, fail)


@pytest.fixture(scope="module")
def advtrained(tmp_path_factory, request):
    request.getfixturevalue("mnist")  # skips without offline data
    root = tmp_path_factory.mktemp("advtrained")
    work, out = str(root / "work"), str(root / "out")
    record = baselines.run("mnist", "advtrained", epochs=1, work_dir=work, out_dir=out,
                           train_limit=LIMIT, chunk_size=40, verbose=0)
    return work, out, record


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, request):
    request.getfixturevalue("mnist")
    root = tmp_path_factory.mktemp("distilled")
    work, out = str(root / "work"), str(root / "out")
    record = baselines.run("mnist", "distilled", epochs=1, work_dir=work, out_dir=out,
                           train_limit=LIMIT, verbose=0)
    return work, out, record


def _assert_logits_model(path, x):
    model = keras.models.load_model(path, compile=False)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (len(x), 10)
    assert not np.allclose(logits.sum(axis=1), 1.0)  # logits, not probabilities


def test_advtrained_set_is_deepfool_examples_with_true_labels(advtrained, mnist):
    work, _, _ = advtrained
    x, y = load_extra_train(os.path.join(work, "mnist-deepfool-train.npz"), (28, 28, 1))
    assert x.shape == (LIMIT, 28, 28, 1) and np.array_equal(y, mnist.y_train[:LIMIT])
    with np.load(os.path.join(work, "mnist-deepfool-train.npz")) as data:
        success = data["success"]
    point = pretrained.load_pretrained("mnist")
    predicted = np.argmax(point.predict(x, verbose=0), axis=1)
    # successful examples fool the point model; failed ones are the originals
    assert np.all(predicted[success] != y[success])
    np.testing.assert_array_equal(x[~success], mnist.x_train[:LIMIT][~success])
    summary = json.loads(open(os.path.join(work, "mnist-deepfool-train.json")).read())
    assert summary["images"] == LIMIT and summary["success_rate"] == pytest.approx(success.mean())
    assert summary["success_rate"] > 0.9 and 0 < summary["mean_l2"] < 5
    assert summary["failures_kept_as_originals"] == int((~success).sum())
    chunks = [line for line in open(os.path.join(work, "mnist-deepfool-train", "chunks.jsonl"))]
    assert len(chunks) == 2  # 64 images in chunks of 40


def test_advtrained_model_and_record(advtrained, mnist, monkeypatch):
    work, out, record = advtrained
    path = os.path.join(out, "mnist-advtrained.keras")
    saved = json.loads(open(path[:-len(".keras")] + ".json").read())
    assert saved == json.loads(json.dumps(record))
    assert saved["train_images"] == 2 * LIMIT and saved["epochs"] == 1
    assert saved["extra_train"] == os.path.join(work, "mnist-deepfool-train.npz")
    assert saved["command"].startswith("python -m experiments.baselines --dataset mnist "
                                       "--defence advtrained --epochs 1")
    pipeline = saved["pipeline"]
    assert pipeline["defence"] == "advtrained" and pipeline["config"]["overshoot"] == 0.02
    assert pipeline["config"]["max_iterations"] == 50 and pipeline["config"]["chunk_size"] == 40
    assert pipeline["deepfool_train"]["attack_seconds"] > 0
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", out)
    model = pretrained.load_pretrained("mnist-advtrained")
    assert model.predict(mnist.x_test[:3], verbose=0).shape == (3, 10)
    _assert_logits_model(path, mnist.x_test[:5])


def test_advtrained_rerun_skips_finished_steps(advtrained, monkeypatch):
    work, out, record = advtrained
    before = _mtimes(os.path.dirname(work))
    _forbid(monkeypatch, "train", "run_chunked", "load_pretrained")
    again = baselines.run("mnist", "advtrained", epochs=1, work_dir=work, out_dir=out,
                          train_limit=LIMIT, chunk_size=40, verbose=0)
    assert again == json.loads(json.dumps(record))
    assert _mtimes(os.path.dirname(work)) == before
    with pytest.raises(ValueError, match="made differently"):
        baselines.run("mnist", "advtrained", epochs=1, work_dir=work, out_dir=out,
                      train_limit=LIMIT // 2, verbose=0)


def test_distilled_teacher_and_student(distilled, mnist, monkeypatch):
    work, out, record = distilled
    teacher_path = os.path.join(work, "mnist-distilled-teacher.keras")
    teacher = json.loads(open(teacher_path[:-len(".keras")] + ".json").read())
    student_path = os.path.join(out, "mnist-distilled.keras")
    student = json.loads(open(student_path[:-len(".keras")] + ".json").read())
    assert student == json.loads(json.dumps(record))
    for saved in (teacher, student):
        assert saved["temperature"] == 100 and saved["train_images"] == LIMIT
        assert saved["recipe"]["optimizer"] == "adam" and saved["recipe"]["learning_rate"] == 1e-3
        assert "experiments.baselines --dataset mnist --defence distilled" in saved["command"]
    assert teacher["teacher"] is None and student["teacher"] == teacher_path
    assert student["pipeline"]["teacher"] == teacher
    assert student["pipeline"]["config"]["temperature"] == 100
    assert student["pipeline"]["config"]["deployed_temperature"] == 1
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", out)
    assert pretrained.load_pretrained("mnist-distilled").predict(
        mnist.x_test[:3], verbose=0).shape == (3, 10)
    _assert_logits_model(student_path, mnist.x_test[:5])


def test_distilled_rerun_skips_and_refuses_a_different_teacher(distilled, monkeypatch):
    work, out, record = distilled
    before = _mtimes(os.path.dirname(work))
    _forbid(monkeypatch, "train")
    again = baselines.run("mnist", "distilled", epochs=1, work_dir=work, out_dir=out,
                          train_limit=LIMIT, verbose=0)
    assert again == json.loads(json.dumps(record))
    assert _mtimes(os.path.dirname(work)) == before
    with pytest.raises(ValueError, match="teacher.keras exists but was made differently.*epochs"):
        baselines.run("mnist", "distilled", epochs=3, work_dir=work, out_dir=out,
                      train_limit=LIMIT, verbose=0)


def test_distilled_resumes_after_the_teacher(distilled, tmp_path, monkeypatch):
    """An existing teacher (e.g. trained separately) is reused; only the student trains."""
    work, _, _ = distilled
    calls = []
    monkeypatch.setattr(baselines, "train", 
                        lambda **kw: calls.append(kw) or {"validation_accuracy": 0.5,
                                                          "test_accuracy": 0.5})
    monkeypatch.setattr(baselines, "write_json", lambda path, obj: None)
    baselines.run("mnist", "distilled", epochs=1, work_dir=work, out_dir=str(tmp_path),
                  train_limit=LIMIT, verbose=0)
    assert len(calls) == 1
    assert calls[0]["teacher"] == os.path.join(work, "mnist-distilled-teacher.keras")
    assert calls[0]["out"] == os.path.join(str(tmp_path), "mnist-distilled.keras")


def test_bad_dataset_or_defence(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        baselines.run("svhn", "distilled", work_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown defence 'ensemble'"):
        baselines.run("mnist", "ensemble", work_dir=str(tmp_path))
    with pytest.raises(SystemExit):
        baselines.main(["--dataset", "mnist", "--defence", "ensemble"])
    with pytest.raises(SystemExit):
        baselines.main(["--dataset", "mnist", "--defence", "distilled", "--chunk-size", "10"])
    assert not os.listdir(tmp_path)


def test_pretrained_names_and_missing_weights_message(tmp_path, monkeypatch):
    for name in ("mnist", "cifar10"):
        for defence in ("distilled", "advtrained"):
            assert pretrained.PRETRAINED[f"{name}-{defence}"] == name
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not in this checkout.*python -m experiments"
                       r"\.baselines --dataset cifar10 --defence advtrained"):
        pretrained.load_pretrained("cifar10-advtrained")


@pytest.mark.parametrize("arrays, error, message", [
    ({"x": np.zeros((2, 28, 28, 1), np.float32)}, ValueError, r"expected arrays 'x' and 'y'"),
    ({"x": np.zeros((2, 32, 32, 3), np.float32), "y": np.zeros(2, np.int64)}, ValueError,
     r"images of shape \(32, 32, 3\)"),
    ({"x": np.full((2, 28, 28, 1), 2.0, np.float32), "y": np.zeros(2, np.int64)}, ValueError,
     r"must lie in \[0, 1\]"),
    ({"x": np.zeros((2, 28, 28, 1), np.uint8), "y": np.zeros(2, np.int64)}, TypeError,
     "divide uint8 images by 255"),
    ({"x": np.zeros((2, 28, 28, 1), np.float32), "y": np.zeros(3, np.int64)}, ValueError,
     r"y must have shape \(2,\)"),
    ({"x": np.zeros((2, 28, 28, 1), np.float32), "y": np.array([0, 10])}, ValueError,
     r"y must lie in \[0, 10\)"),
    ({"x": np.zeros((2, 28, 28, 1), np.float32), "y": np.zeros(2, np.float32)}, TypeError,
     "y must be integers"),
])
def test_malformed_extra_train_files_are_refused(tmp_path, arrays, error, message):
    path = str(tmp_path / "extra.npz")
    np.savez(path, **arrays)
    with pytest.raises(error, match=message):
        load_extra_train(path, (28, 28, 1))
