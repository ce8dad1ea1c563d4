"""`RecordStore`: the one resumable, keyed, config-checked record store of the project.

Every long job (chunked attacks, the experiments' per-image attack records,
the radius search) keeps its results in a store ``name`` under ``directory``:

    <name>.json        run record (`models.records.run_record`): the config
                       the records were made with, seed, versions, data
    <name>.jsonl       one line per finished key: {"key": ..., "record": {...}}
    <name>/<key>.npz   the key's arrays (optional), written before its line

Guarantees (each tested in tests/test_store.py):

- **Resumable.** A key counts as finished once its line is on disk; the line
  is one ``write`` + fsync, so a run killed at any point loses at most the
  key in progress. Re-opening the store skips finished keys.
- **Torn tails cut.** A last line without its newline (a write interrupted by
  kill -9, a full disk) is cut off when a writer opens or appends to the
  file, with a message on stderr; the next append therefore starts on a line
  of its own and no other record is lost.
- **Atomic files.** Arrays and JSON files are written to a unique temporary
  file in the target directory (`tempfile.mkstemp`) and renamed into place,
  so a reader never sees half a file and two writers never share a name.
- **One writer at a time.** Appending holds an advisory ``fcntl.flock`` on
  ``<name>.jsonl``; `RecordStore.writing` holds it across a unit of work
  ("check what is done, compute the rest, record it") and re-reads the lines
  other processes appended meanwhile. Two processes on one store therefore
  neither corrupt nor duplicate records: the second waits for the lock and
  then skips the keys the first finished.
- **Tied to what made them.** The config is compared with the stored one on
  every open (`check_or_write_config`); a store made under another config is
  REFUSED with a `ConfigMismatch` naming every setting that changed (never
  mixed, never silently re-used). Callers put in the config what the
  records depend on: the attacked weights (`models.records.weights_sha256`),
  the data's sha256 and every result-changing setting. To keep both results,
  use another directory; to redo, delete the store's three entries.
"""
import contextlib
import fcntl
import json
import os
import sys

import numpy as np

from models.records import run_record, write_atomically, write_json

__all__ = ["ConfigMismatch", "RecordStore", "check_config", "check_or_write_config",
           "config_differences", "save_npz"]


class ConfigMismatch(ValueError):
    """Records made under another configuration than the one asked for."""


def _flat(config, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}; other values (lists included) are leaves."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _short(value):
    text = "(absent)" if value is _ABSENT else json.dumps(value)
    return text if len(text) <= 70 else text[:67] + "..."


_ABSENT = object()


def config_differences(recorded, wanted, keys=None):
    """The settings that differ between two configs, as "key: recorded X, now Y" lines.

    Args:
        recorded, wanted: JSON-ready dicts, possibly nested (compared as
            dotted keys: {"attack": {"k": 1}} is "attack.k"); tuples equal lists.
        keys: compare only these dotted keys (a key also selects the keys
            under it); default: every key of either config.
    """
    recorded = _flat(json.loads(json.dumps(recorded)))
    wanted = _flat(json.loads(json.dumps(wanted)))
    names = sorted(set(recorded) | set(wanted))
    if keys is not None:
        names = [n for n in names if any(n == k or n.startswith(k + ".") for k in keys)]
        names += [k for k in keys if k not in names and not any(
            n.startswith(k + ".") for n in names)]
    return [f"{n}: recorded {_short(recorded.get(n, _ABSENT))}, now "
            f"{_short(wanted.get(n, _ABSENT))}" for n in names
            if recorded.get(n, _ABSENT) != wanted.get(n, _ABSENT)]


def check_config(what, recorded, wanted, keys=None, advice="use another directory, or "
                 "delete the old records to redo them"):
    """Raise `ConfigMismatch` naming every setting in which ``recorded`` differs from ``wanted``.

    The message reads "<what> (<key>: recorded X, now Y; ...); <advice>".
    """
    changed = config_differences(recorded, wanted, keys)
    if changed:
        raise ConfigMismatch(f"{what} (" + "; ".join(changed) + f"); {advice}")


def check_or_write_config(path, config, seed=None, data_record=None, keys=None):
    """Refuse a run record at ``path`` made under another config, or write a new one.

    ``path`` holds a `run_record` (its "config" is compared, on ``keys``
    only if given); when absent, ``run_record(config, seed, data_record)``
    is written atomically. Returns the stored (or new) run record.
    """
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        check_config(f"{path} was made under another configuration", stored.get("config", {}),
                     config, keys)
        return stored
    record = run_record(config, seed, data_record)
    write_json(path, record)
    return record


def save_npz(path, **arrays):
    """Write ``arrays`` to ``path`` (.npz, compressed) atomically (`write_atomically`)."""
    write_atomically(path, lambda f: np.savez_compressed(f, **arrays), binary=True)


class RecordStore:
    """The records ``name`` in ``directory`` (layout and guarantees: module doc).

    Args:
        directory: folder of the store (created if missing).
        name: file stem of the store's entries.
        config: JSON-ready dict of everything the records depend on; None
            opens the store for reading only (no config check or write).
        seed, data_record: written into a new run record.
        keys: compare only these (dotted) config keys with the stored config
            (settings outside them, e.g. batch sizes, may change on resume).
        log: receives the torn-tail message (default: stderr).

    Attributes:
        records: {key: record dict} of the finished keys, in file order.
    """

    def __init__(self, directory, name, config=None, seed=None, data_record=None, keys=None,
                 log=None):
        self.directory, self.name = str(directory), name
        self.lines_path = os.path.join(self.directory, f"{name}.jsonl")
        self.config_path = os.path.join(self.directory, f"{name}.json")
        self.arrays_dir = os.path.join(self.directory, name)
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.records, self._offset, self._lock_fd = {}, 0, None
        if config is None:
            self.run = None
            if os.path.exists(self.config_path):
                with open(self.config_path) as f:
                    self.run = json.load(f)
            self.refresh()
            return
        os.makedirs(self.directory, exist_ok=True)
        with self.writing():
            self.run = check_or_write_config(self.config_path, config, seed, data_record, keys)

    def check(self, wanted, keys=None, advice="use another directory"):
        """Refuse (`ConfigMismatch`) if the stored config differs from ``wanted`` on ``keys``.

        For a store opened for reading; a store without a run record passes.
        """
        if self.run is not None:
            check_config(f"{self.config_path} was made under another configuration",
                         self.run.get("config", {}), wanted, keys, advice)

    # ------------------------------------------------------------ reading

    def __contains__(self, key):
        return key in self.records

    def done(self, key):
        return key in self.records

    def __len__(self):
        return len(self.records)

    def record(self, key):
        """The record of ``key`` (KeyError naming the store if it is not finished)."""
        if key not in self.records:
            raise KeyError(f"{self.lines_path}: no record {key!r}")
        return self.records[key]

    def arrays(self, key):
        """{name: array} saved with ``key``."""
        self.record(key)
        with np.load(os.path.join(self.arrays_dir, f"{key}.npz")) as data:
            return {name: data[name] for name in data.files}

    def refresh(self):
        """Read the lines appended since the last read (by this or another process).

        A last line without its newline is being written (or was torn): it
        is left for a writer to finish or cut, and not read.
        """
        if not os.path.exists(self.lines_path):
            return
        with open(self.lines_path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]
        for line in complete.splitlines():
            if line.strip():
                entry = json.loads(line)
                self.records[entry["key"]] = entry["record"]
        self._offset += len(complete)

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def writing(self):
        """Hold the store's exclusive lock; on entry, cut a torn tail and read new lines.

        Use it around one unit of work so that no other process records the
        same keys meanwhile; `put` takes the lock itself when not inside.
        """
        if self._lock_fd is not None:  # already held by this object
            yield self
            return
        fd = os.open(self.lines_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
            self._cut_torn_tail(fd)
            self.refresh()
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # releases the lock

    def put(self, key, record, arrays=None):
        """Record ``key``: its arrays (if any) atomically, then its line. Returns True.

        Returns False, writing nothing, when ``key`` is already recorded
        (e.g. by another process while this one computed it).
        """
        with self.writing():
            if key in self.records:
                return False
            if arrays:
                os.makedirs(self.arrays_dir, exist_ok=True)
                save_npz(os.path.join(self.arrays_dir, f"{key}.npz"), **arrays)
            line = (json.dumps({"key": key, "record": record}) + "\n").encode()
            os.write(self._lock_fd, line)
            os.fsync(self._lock_fd)
            self.refresh()
        return True

    def _cut_torn_tail(self, fd):
        size = os.fstat(fd).st_size
        if not size or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = max(0, size - (1 << 16))
        while True:  # find the last newline
            chunk = os.pread(fd, size - start, start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                cut += start + 1
                break
            if start == 0:
                cut = 0
                break
            start = max(0, start - (1 << 16))
        os.ftruncate(fd, cut)
        os.fsync(fd)
        self._offset = min(self._offset, cut)
        self._log(f"{self.lines_path}: cut a torn last line ({size - cut} bytes without a "
                  "newline, left by an interrupted write); its key will be redone")
