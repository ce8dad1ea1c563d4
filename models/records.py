"""Run records shared by every long job: what ran, with which weights, data and versions.

Every run writes its configuration, seed, package versions and data checksum
next to its results (`run_record`); `weights_sha256` identifies the exact
weights of a model. Long jobs keep their per-unit results in a
`models.store.RecordStore`.
"""
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np


def package_versions():
    """Versions of Python and the numerical packages, for run records (read without importing them)."""
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "h5py", "matplotlib"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_record(config, seed, data_record=None):
    """A JSON-ready description of a run: command, config, seed, versions, data."""
    return {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config,
            "seed": seed, "packages": package_versions(), "data": data_record}


def weights_sha256(model):
    """sha256 (hex) of a Keras model's weights: every array's shape, dtype and bytes, in order.

    Identifies the exact parameters a result was computed with, whatever
    file (or none) they came from; two models differ in it unless their
    weights are bit-identical.
    """
    digest = hashlib.sha256()
    for weights in model.get_weights():
        weights = np.ascontiguousarray(weights)
        digest.update(f"{weights.dtype.str}{weights.shape}".encode())
        digest.update(weights.tobytes())
    return digest.hexdigest()


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()   # read once: os.umask can only be read by setting it


def write_atomically(path, write, binary=False):
    """Write ``path`` through ``write(file)`` atomically (a reader never sees half a file).

    The temporary file has a unique name in the target directory, so two
    writers of the same path never collide; the last rename wins. The file
    gets the permissions a plain ``open(path, "w")`` would give it (0666
    less the umask), not `tempfile.mkstemp`'s private 0600.
    """
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(path) or ".")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically (`write_atomically`)."""
    write_atomically(path, lambda f: json.dump(obj, f, indent=2))
