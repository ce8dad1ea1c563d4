"""Run records shared by every long job: provenance and append-only results.

Every run writes its configuration, seed, package versions and data checksum
next to its results (`run_record`), and long jobs append one JSON line per
finished unit of work (`JsonLines`) so that an interrupted run resumes where
it stopped without redoing or duplicating anything.
"""
import json
import os
import platform
import sys
import time


def package_versions():
    """Versions of Python and the numerical packages, for run records."""
    import h5py
    import keras
    import matplotlib
    import numpy
    import tensorflow
    return {"python": platform.python_version(), "tensorflow": tensorflow.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__,
            "h5py": h5py.__version__, "matplotlib": matplotlib.__version__}


def run_record(config, seed, data_record=None):
    """A JSON-ready description of a run: command, config, seed, versions, data."""
    return {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config,
            "seed": seed, "packages": package_versions(), "data": data_record}


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically (a reader never sees half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


class JsonLines:
    """An append-only JSON-lines file of records keyed by a string.

    ``log.done(key)`` tells whether a record with that key is already on disk;
    ``log.append(key, record)`` writes one line and flushes it, so a run killed
    at any point loses at most the record being written (a torn last line is
    ignored on reading).
    """

    def __init__(self, path):
        self.path = path
        self.records = {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line torn by an interruption
                    self.records[entry["key"]] = entry["record"]

    def done(self, key):
        return key in self.records

    def append(self, key, record):
        if key in self.records:
            raise KeyError(f"{self.path}: a record with key {key!r} exists already")
        with open(self.path, "a") as f:
            f.write(json.dumps({"key": key, "record": record}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records[key] = record
