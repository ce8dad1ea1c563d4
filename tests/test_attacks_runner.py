"""Chunked, resumable attack runs."""
import json
import os

import keras
import numpy as np
import pytest

from cw_attacks import FGSM, run_chunked
from models.records import weights_sha256
from models.store import ConfigMismatch


@pytest.fixture
def job(tiny_cnn, rng):
    x = rng.uniform(size=(5, 8, 8, 1)).astype(np.float32)
    return FGSM(tiny_cnn, eps_grid=(0.1, 0.3, 1.0), bisection_steps=2), x, \
        (np.argmax(tiny_cnn(x), axis=1) + 1) % 10


class _Interrupted(Exception):
    """Stands for the run being killed."""


def _count_calls(monkeypatch, attack, fail_after=None):
    """Wrap attack.attack to record the chunk sizes it gets, raising after ``fail_after`` calls."""
    calls, original = [], type(attack).attack.__get__(attack)

    def wrapped(x, labels):
        if fail_after is not None and len(calls) == fail_after:
            raise _Interrupted
        calls.append(len(x))
        return original(x, labels)

    monkeypatch.setattr(attack, "attack", wrapped)
    return calls


def _assert_same(a, b):
    for field in ("adversarial", "success", "l0", "l2", "linf", "iterations"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_resume_skips_finished_chunks_and_returns_the_same_result(job, tmp_path, monkeypatch):
    attack, x, targets = job
    lines = []
    whole = run_chunked(attack, x, targets, tmp_path / "whole", chunk_size=3, log=lines.append)
    assert len(whole) == 5 and len(lines) == 2 and "chunk 2/2" in lines[1] and "ETA" in lines[1]

    run = tmp_path / "interrupted"
    calls = _count_calls(monkeypatch, attack, fail_after=1)
    with pytest.raises(_Interrupted):
        run_chunked(attack, x, targets, run, chunk_size=3, log=lines.append)
    assert calls == [3]
    calls = _count_calls(monkeypatch, attack)
    resumed = run_chunked(attack, x, targets, run, chunk_size=3, log=lines.append)
    assert calls == [2]     # only the second chunk ran
    _assert_same(resumed, whole)
    calls = _count_calls(monkeypatch, attack)
    _assert_same(run_chunked(attack, x, targets, run, chunk_size=3, log=lines.append), whole)
    assert calls == []

    with open(run / "chunks.json") as f:
        config = json.load(f)["config"]
    assert config["attack"] == "FGSM" and config["eps_grid"] == [0.1, 0.3, 1.0]
    assert config["model_sha256"] == weights_sha256(attack.model)
    assert sorted(os.listdir(run)) == ["chunks", "chunks.json", "chunks.jsonl"]
    assert sorted(os.listdir(run / "chunks")) == ["chunk-00000.npz", "chunk-00001.npz"]


def test_a_different_run_in_the_same_directory_is_refused(job, tmp_path):
    attack, x, targets = job
    run_chunked(attack, x[:2], targets[:2], tmp_path, chunk_size=2, log=lambda line: None)
    with pytest.raises(ConfigMismatch, match="inputs_sha256"):
        run_chunked(attack, x[:2], (targets[:2] + 1) % 10, tmp_path, chunk_size=2)
    with pytest.raises(ConfigMismatch, match="chunk_size: recorded 2, now 1"):
        run_chunked(attack, x[:2], targets[:2], tmp_path, chunk_size=1)


def test_other_weights_of_the_same_architecture_are_refused(job, tmp_path):
    """Issue 11 item 1: records are tied to the exact weights, not the model's name and size."""
    attack, x, targets = job
    run_chunked(attack, x[:2], targets[:2], tmp_path, chunk_size=2, log=lambda line: None)
    other = keras.models.clone_model(attack.model)
    other.set_weights([w + 0.01 for w in attack.model.get_weights()])
    assert other.name == attack.model.name and other.count_params() == attack.model.count_params()
    retrained = FGSM(other, eps_grid=(0.1, 0.3, 1.0), bisection_steps=2)
    with pytest.raises(ConfigMismatch, match="model_sha256: recorded"):
        run_chunked(retrained, x[:2], targets[:2], tmp_path, chunk_size=2)


def test_a_run_resumes_at_another_batch_size_when_that_only_changes_speed(job, tmp_path,
                                                                        monkeypatch):
    """A chunked run begun at one batch size (a CPU's) resumes at another (a GPU's); for an
    attack whose results depend on the batch size, the other batch size is refused."""
    attack, x, targets = job
    attack.batch_size = 2
    whole = run_chunked(attack, x, targets, tmp_path / "run", chunk_size=3, log=lambda line: None)
    attack.batch_size = 5
    calls = _count_calls(monkeypatch, attack)
    _assert_same(run_chunked(attack, x, targets, tmp_path / "run", chunk_size=3), whole)
    assert calls == []
    with open(tmp_path / "run" / "chunks.json") as f:
        assert json.load(f)["config"]["batch_size"] == 2     # the first run's, for provenance

    monkeypatch.setattr(type(attack), "results_depend_on_batch_size", True)
    with pytest.raises(ConfigMismatch, match="batch_size: recorded 2, now 5"):
        run_chunked(attack, x, targets, tmp_path / "run", chunk_size=3)


def test_bad_arguments_are_refused(job, tmp_path):
    attack, x, targets = job
    with pytest.raises(ValueError, match="chunk_size"):
        run_chunked(attack, x, targets, tmp_path, chunk_size=0)
    with pytest.raises(ValueError, match="labels"):
        run_chunked(attack, x, targets[:3], tmp_path)
