"""Attack campaigns: the engine's example stream and the per-image records written from it."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from cw_attacks import benchmark
from cw_attacks.fgsm import FGSM
from cw_attacks.l0 import CarliniL0
from cw_attacks.l2 import CarliniL2
from cw_attacks.linf import CarliniLinf
from cw_attacks.result import AttackResult
from experiments.attack_records import AttackRecords

QUICK = {   # a few iterations each; batch 3 of 12 examples, so the engine refills its batch
    CarliniL2: dict(learning_rate=0.05, binary_search_steps=3, max_iterations=20,
                    initial_const=1.0),
    CarliniL0: dict(learning_rate=0.05, max_iterations=10, initial_const=0.1, largest_const=2.0),
    CarliniLinf: dict(learning_rate=0.02, max_iterations=10, initial_const=0.01,
                      largest_const=1.0),
}
FIELDS = ("adversarial", "success", "l0", "l2", "linf", "iterations")


def assert_same(a, b):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def collect(stream):
    """(rows in yield order, the stream's results put back in row order)."""
    items = list(stream)
    rows = np.concatenate([r for r, _ in items])
    return rows, AttackResult.concatenate([res for _, res in items])[np.argsort(rows)]


@pytest.fixture(scope="module")
def batch(tiny_cnn):
    x = np.random.default_rng(3).random((12, 8, 8, 1)).astype(np.float32)
    return x, (np.asarray(tiny_cnn(x)).argmax(1) + 1 + np.arange(12) % 9) % 10


@pytest.mark.parametrize("cls", list(QUICK), ids=lambda c: c.__name__)
def test_engine_streams_every_example_once_with_the_results_of_attack(tiny_cnn, batch, cls):
    x, targets = batch
    attack = cls(tiny_cnn, batch_size=3, **QUICK[cls])
    rows, streamed = collect(attack.attack_stream(x, targets))
    assert sorted(rows.tolist()) == list(range(12))
    assert_same(streamed, attack.attack(x, targets))


def test_engine_keeps_its_batch_full_and_reports_examples_as_they_retire(tiny_cnn, batch):
    x, targets = batch
    attack = CarliniL2(tiny_cnn, batch_size=4, **QUICK[CarliniL2])
    sizes, advance = [], attack._advance   # batch size of each engine call

    def recording(state, min_ended):
        sizes.append(len(state["w"]))
        return advance(state, min_ended)

    attack._advance = recording
    calls_at_yield = [len(sizes) for _ in attack.attack_stream(x, targets)]
    full = next(i for i, size in enumerate(sizes) if size < 4)   # first call short of 4
    assert full >= 2 and set(sizes[:full]) == {4}   # refilled while examples were pending
    assert sizes[full:] == sorted(sizes[full:], reverse=True)   # then it drains
    assert calls_at_yield[0] < len(sizes) and calls_at_yield == sorted(calls_at_yield)


def test_default_stream_is_one_call_of_attack(tiny_cnn, batch):
    x, targets = batch
    attack = FGSM(tiny_cnn, eps_grid=(0.1, 0.5), bisection_steps=1, batch_size=5)
    (rows, result), = attack.attack_stream(x, targets)
    assert rows.tolist() == list(range(12))
    assert_same(result, attack.attack(x, targets))


def test_a_subclass_that_post_processes_attack_streams_through_it(tiny_cnn, batch):
    class Judged(CarliniL2):   # as EOTCarliniL2 and OptMargin judge the engine's results
        def _attack(self, x, labels):
            result = super()._attack(x, labels)
            return AttackResult.from_images(x, result.adversarial, np.zeros(len(x), bool),
                                            result.iterations)

    x, targets = batch
    attack = Judged(tiny_cnn, batch_size=5, **QUICK[CarliniL2])
    (rows, streamed), = attack.attack_stream(x, targets)
    assert rows.tolist() == list(range(12)) and not streamed.success.any()
    assert CarliniL2(tiny_cnn, **QUICK[CarliniL2]).attack(x, targets).success.any()


def test_stream_checks_its_inputs_when_called(tiny_cnn, batch):
    x, targets = batch
    attack = CarliniL2(tiny_cnn, **QUICK[CarliniL2])
    with pytest.raises(ValueError, match="labels"):
        attack.attack_stream(x, targets[:3])   # not when first iterated
    with pytest.raises(ValueError):
        attack.attack_stream(x * 2, targets)


# ------------------------------------------------------------------ the campaign runner


class FakeModel:
    """What the records' config reads of a model: name, size, weights."""

    name = "fake"

    def count_params(self):
        return 2

    def get_weights(self):
        return [np.arange(2, dtype=np.float32)]


class Interrupted(Exception):
    """Stands for the run being killed."""


class ScriptedAttack:
    """Shifts every example by 0.1; its stream reports the examples in a fixed scrambled order.

    ``order(n)`` gives the row order; the stream yields them ``chunk`` at a
    time, calls ``before_yield(rows)`` before each, and raises Interrupted
    after ``fail_after`` items. ``_calls`` records the size of each stream.
    """

    def __init__(self, chunk=4, fail_after=None, before_yield=None, delay=0.0):
        # private attributes: the records' config holds an attack's public settings
        self.model, self._chunk, self._fail_after = FakeModel(), chunk, fail_after
        self._before_yield, self._delay, self._calls = before_yield, delay, []

    def attack_stream(self, x, labels):
        self._calls.append(len(x))
        return self._stream(x, labels)

    def _stream(self, x, labels):
        order = np.argsort(np.random.default_rng(len(x)).random(len(x)))
        result = AttackResult.from_images(x, np.clip(x + 0.1, 0, 1), labels % 2 == 0,
                                          np.arange(len(x)))
        for item, start in enumerate(range(0, len(x), self._chunk)):
            if item == self._fail_after:
                raise Interrupted
            rows = order[start:start + self._chunk]
            if self._before_yield:
                self._before_yield(rows)
            time.sleep(self._delay)
            yield rows, result[rows]


def recorded_keys(directory, name="scripted"):
    path = os.path.join(directory, f"{name}.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["key"] for line in f]


@pytest.fixture
def test_set():
    x = np.random.default_rng(0).random((12, 8, 8, 1)).astype(np.float32)
    return x, np.arange(12) % 10


def test_each_image_is_recorded_as_soon_as_its_examples_finish(tmp_path, test_set):
    x_test, y_test = test_set
    images = [4, 2, 7, 9]
    seen = []   # (examples finished before this item, keys recorded at that point)
    finished = []

    def check(rows):
        complete = [images[j] for j in range(4)
                    if set(range(9 * j, 9 * j + 9)) <= set(finished)]
        seen.append((sorted(complete), sorted(recorded_keys(tmp_path))))
        finished.extend(rows.tolist())

    attack = ScriptedAttack(chunk=5, before_yield=check)
    result = AttackRecords(str(tmp_path), "scripted").run(attack, x_test, y_test, images,
                                                           log=lambda _: None)
    assert attack._calls == [36]   # one stream for all pending images
    for complete, keys in seen:  # every finished image is on disk before the next item
        assert keys == sorted(f"test-{i:05d}" for i in complete)
    assert len(recorded_keys(tmp_path)) == 4 and recorded_keys(tmp_path) != \
        [f"test-{i:05d}" for i in images]   # written in the order they finished
    # The result is in the order asked for, each image's rows in target order.
    assert result.iterations.tolist() == list(range(36))
    with open(tmp_path / "scripted.jsonl") as f:
        lines = [json.loads(line)["record"] for line in f]
    assert all(len(r["success"]) == 9 and r["seconds"] >= 0 for r in lines)


def test_a_killed_stream_keeps_finished_images_and_resume_completes(tmp_path, test_set):
    x_test, y_test = test_set
    images = [4, 2, 7, 9, 0]
    whole = AttackRecords(str(tmp_path / "whole"), "scripted").run(
        ScriptedAttack(), x_test, y_test, images, log=lambda _: None)

    finished = []
    killed = ScriptedAttack(chunk=4, fail_after=8,   # 32 of 45 examples reported
                            before_yield=lambda rows: finished.extend(rows.tolist()))
    records = AttackRecords(str(tmp_path / "run"), "scripted")
    with pytest.raises(Interrupted):
        records.run(killed, x_test, y_test, images, log=lambda _: None)
    complete = [images[j] for j in range(5) if set(range(9 * j, 9 * j + 9)) <= set(finished)]
    assert 0 < len(complete) < 5
    assert sorted(recorded_keys(tmp_path / "run")) == sorted(f"test-{i:05d}" for i in complete)

    resumed_attack = ScriptedAttack()
    resumed = AttackRecords(str(tmp_path / "run"), "scripted").run(
        resumed_attack, x_test, y_test, images, log=lambda _: None)
    assert resumed_attack._calls == [9 * (5 - len(complete))]   # only the unfinished images
    assert sorted(recorded_keys(tmp_path / "run")) == sorted(f"test-{i:05d}" for i in images)
    for field in ("adversarial", "success", "l2"):
        np.testing.assert_array_equal(getattr(resumed, field), getattr(whole, field))


def test_images_per_call_splits_the_pending_images_into_streams(tmp_path, test_set):
    x_test, y_test = test_set
    attack = ScriptedAttack()
    AttackRecords(str(tmp_path), "scripted").run(attack, x_test, y_test, [1, 2, 3, 4, 5],
                                                 images_per_call=2, log=lambda _: None)
    assert attack._calls == [18, 18, 9]


def test_a_stream_that_loses_or_repeats_examples_is_an_error(tmp_path, test_set):
    x_test, y_test = test_set

    class Losing(ScriptedAttack):
        def _stream(self, x, labels):
            yield from list(super()._stream(x, labels))[:-1]

    class Repeating(ScriptedAttack):
        def _stream(self, x, labels):
            items = list(super()._stream(x, labels))
            yield from items[:1] + items

    with pytest.raises(RuntimeError, match="without the examples of test images"):
        AttackRecords(str(tmp_path), "scripted").run(Losing(), x_test, y_test, [1, 2],
                                                     log=lambda _: None)
    with pytest.raises(RuntimeError, match="twice"):
        AttackRecords(str(tmp_path), "repeating").run(Repeating(), x_test, y_test, [3, 5],
                                                     log=lambda _: None)


_WORKER = """
import os, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from test_campaign import ScriptedAttack
from experiments.attack_records import AttackRecords
open(os.path.join({barrier!r}, str(os.getpid())), "w").close()
while len(os.listdir({barrier!r})) < 2:   # start together, after the slow imports
    time.sleep(0.01)
x = np.random.default_rng(0).random((12, 8, 8, 1)).astype(np.float32)
lines = []
AttackRecords({directory!r}, "scripted").run(ScriptedAttack(chunk=6, delay=0.1), x,
                                             np.arange(12) % 10, list(range(12)),
                                             log=lines.append)
print(len(lines), sum("recorded by another process" not in line for line in lines))
"""


def test_two_processes_on_the_same_records_neither_corrupt_nor_duplicate(tmp_path):
    """Both attack all 12 images at once (18 items of 0.1 s); each image is recorded once."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    os.mkdir(tmp_path / "barrier")
    code = _WORKER.format(tests=os.path.dirname(__file__), directory=str(tmp_path / "records"),
                          barrier=str(tmp_path / "barrier"))
    workers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env,
                                cwd=os.path.dirname(os.path.dirname(__file__)))
               for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    keys = recorded_keys(tmp_path / "records")
    assert sorted(keys) == [f"test-{i:05d}" for i in range(12)]   # each once, all parsed
    assert sorted(os.listdir(tmp_path / "records" / "scripted")) == \
        [f"test-{i:05d}.npz" for i in range(12)]
    finished, recorded = zip(*(map(int, out.split()[-2:]) for out, _ in outputs))
    assert finished == (12, 12) and sum(recorded) == 12   # both attacked all; one record each
    result = AttackRecords(str(tmp_path / "records"), "scripted").result(range(12))
    x = np.random.default_rng(0).random((12, 8, 8, 1)).astype(np.float32)
    moved = np.clip(np.repeat(x, 9, 0) + 0.1, 0, 1)
    expected = np.where(result.success[:, None, None, None], moved, np.repeat(x, 9, 0))
    assert 0 < result.success.sum() < 108
    np.testing.assert_array_equal(result.adversarial, expected)


# ------------------------------------------------------------------ the engine benchmark


def test_engine_benchmark_compares_the_stream_with_todays_calls(tiny_cnn):
    class Data:   # 40 test images, the tiny model's own labels: every one correct
        x_test = np.random.default_rng(5).random((40, 8, 8, 1)).astype(np.float32)
        y_test = np.asarray(tiny_cnn(x_test)).argmax(1)

    lines = []
    report = benchmark.engine(tiny_cnn, Data, images=3, batch_size=6, max_iterations=10,
                              images_per_call=1, raw_steps=2, log=lines.append)
    assert report["config"]["examples"] == 27 and report["config"]["test_indices"] == [0, 1, 2]
    assert report["engine"]["examples"] == report["today"]["examples"] == 27
    assert report["engine"]["gradient_steps"] == report["today"]["gradient_steps"] > 0
    assert report["same_decisions"] and report["engine_full_batch"]["calls"] >= 1
    assert report["engine_over_today"] == pytest.approx(
        report["engine"]["examples_per_second"] / report["today"]["examples_per_second"],
        rel=1e-2)
    assert "engine/raw" in lines[-1] and "engine/today" in lines[-1]


def test_engine_benchmark_refuses_one_json_for_two_parts(capsys):
    with pytest.raises(SystemExit) as exit_:
        benchmark.main(["--parts", "speed", "engine", "--json", "x.json"])
    assert exit_.value.code == 2 and "--json names one file" in capsys.readouterr().err
