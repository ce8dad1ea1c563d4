"""The record store: resume, torn tails, two real processes, configs tied to what made them."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from models.store import ConfigMismatch, RecordStore, config_differences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lines(store):
    with open(store.lines_path, "rb") as f:
        return f.read().split(b"\n")


def test_records_and_arrays_survive_reopening(tmp_path):
    store = RecordStore(tmp_path, "run", {"attack": {"k": 1}}, seed=3)
    assert store.put("a", {"v": 1}, {"x": np.arange(3.0)})
    assert store.put("b", {"v": 2})
    assert not store.put("a", {"v": 9})                 # finished keys are never written twice
    again = RecordStore(tmp_path, "run", {"attack": {"k": 1}})
    assert list(again.records) == ["a", "b"] and again.record("b") == {"v": 2}
    np.testing.assert_array_equal(again.arrays("a")["x"], np.arange(3.0))
    assert again.run["seed"] == 3 and again.run["config"] == {"attack": {"k": 1}}
    assert sorted(os.listdir(tmp_path)) == ["run", "run.json", "run.jsonl"]  # no temporaries
    with pytest.raises(KeyError, match="no record 'c'"):
        again.record("c")


def test_another_config_is_refused_naming_what_changed(tmp_path):
    RecordStore(tmp_path, "run", {"attack": {"k": 1, "steps": 5}, "model_sha256": "aaa"})
    with pytest.raises(ConfigMismatch) as error:
        RecordStore(tmp_path, "run", {"attack": {"k": 2, "steps": 5}, "model_sha256": "bbb"})
    message = str(error.value)
    assert "attack.k: recorded 1, now 2" in message and 'model_sha256: recorded "aaa"' in message
    assert "steps" not in message
    # keys: settings outside them (e.g. batch sizes) may change on resume
    RecordStore(tmp_path, "run", {"attack": {"k": 1, "steps": 7}, "model_sha256": "aaa"},
                keys=("attack.k", "model_sha256"))
    assert config_differences({"a": (1, 2)}, {"a": [1, 2]}) == []
    assert config_differences({}, {"new": 1}) == ["new: recorded (absent), now 1"]


@pytest.mark.parametrize("torn", [b'{"key": "c", "rec', b'{"key": "c", "record": {"v": 3}}'],
                         ids=["mid-line", "after-closing-brace"])
def test_a_torn_last_line_is_cut_and_the_next_append_is_readable(tmp_path, torn):
    messages = []
    store = RecordStore(tmp_path, "run", {"k": 1})
    store.put("a", {"v": 1})
    store.put("b", {"v": 2})
    with open(store.lines_path, "ab") as f:             # a write killed before its newline
        f.write(torn)
    again = RecordStore(tmp_path, "run", {"k": 1}, log=messages.append)
    assert len(messages) == 1 and "cut a torn last line" in messages[0]
    assert list(again.records) == ["a", "b"]
    again.put("d", {"v": 4})
    fresh = RecordStore(tmp_path, "run")
    assert fresh.records == {"a": {"v": 1}, "b": {"v": 2}, "d": {"v": 4}}
    assert [json.loads(line)["key"] for line in _lines(fresh) if line] == ["a", "b", "d"]


def test_a_torn_tail_appended_by_another_writer_is_cut_before_the_next_put(tmp_path):
    store = RecordStore(tmp_path, "run", {"k": 1}, log=lambda message: None)
    store.put("a", {"v": 1})
    with open(store.lines_path, "ab") as f:
        f.write(b'{"key": "b"')
    store.put("c", {"v": 3})
    assert RecordStore(tmp_path, "run").records == {"a": {"v": 1}, "c": {"v": 3}}


# A writer process; it imports models.store without models/__init__ (TensorFlow), for speed.
WORKER = textwrap.dedent("""
    import sys, time, types
    import numpy as np
    sys.modules["models"] = types.ModuleType("models")
    sys.modules["models"].__path__ = [sys.argv[4]]
    from models.store import RecordStore
    store = RecordStore(sys.argv[1], "run", {"k": 1})
    computed = 0
    for key in range(int(sys.argv[2])):
        with store.writing():
            if f"key-{key}" in store:
                continue
            time.sleep(0.02)                      # the work
            computed += 1
            store.put(f"key-{key}", {"by": sys.argv[3]},
                      {"x": np.full((50, 50), key, np.float32)})
    print(computed)
""")


def test_two_processes_on_one_store_neither_corrupt_nor_duplicate(tmp_path):
    keys = 30
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(keys), name,
                                 os.path.join(ROOT, "models")],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
               for name in ("first", "second")]
    computed = [int(worker.communicate(timeout=120)[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(computed) == keys                        # no key was computed twice
    store = RecordStore(tmp_path, "run")
    lines = [json.loads(line)["key"] for line in _lines(store) if line]
    assert sorted(lines) == sorted(f"key-{k}" for k in range(keys))  # each exactly once
    for k in range(keys):
        assert store.arrays(f"key-{k}")["x"][0, 0] == k
    assert not [name for name in os.listdir(tmp_path / "run") if name.endswith(".tmp")]


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path):
    from models.records import write_json
    from models.store import save_npz
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    expected = plain.stat().st_mode & 0o777
    write_json(str(tmp_path / "record.json"), {"a": 1})
    save_npz(str(tmp_path / "arrays.npz"), x=np.arange(3))
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == expected
    assert (tmp_path / "arrays.npz").stat().st_mode & 0o777 == expected
    assert json.loads((tmp_path / "record.json").read_text()) == {"a": 1}
    assert np.load(tmp_path / "arrays.npz")["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "plain.txt", "record.json"]
