"""Long attack runs in chunks that survive interruption.

`run_chunked` runs ``attack.attack`` over consecutive chunks of the examples
and keeps them in the `models.store.RecordStore` "chunks" of ``out_dir``:

    chunks.json          run record: the attack's class, parameters and
                         weights (`attack_config`), chunk size, number of
                         examples and the sha256 of the inputs (x, labels),
                         seed, versions, data
    chunks.jsonl         one line per finished chunk, key "chunk-00000", ...:
                         start, stop, seconds and `AttackResult.to_record`
    chunks/chunk-00000.npz   that chunk's adversarial images

A chunk counts as finished once its line is on disk, so a run killed at any
point loses at most the chunk in progress; running the same command again
loads the finished chunks and attacks only the others, and a second process
on the same directory waits for the chunk in progress and skips it. A run
directory recorded with a different attack, parameters, weights or inputs
is refused (`models.store.ConfigMismatch`, naming what changed); a batch
size that only changes speed (`identity_keys`) may change, so a run begun
on a CPU resumes with a GPU's larger batch.
"""
import hashlib
import time

import numpy as np

from cw_attacks.result import AttackResult
from models.checks import check_images
from models.records import weights_sha256
from models.store import RecordStore

_JSON_SCALARS = (bool, int, float, str)


def attack_config(attack):
    """JSON-ready parameters of an attack: class, model (name, size, sha256 of its weights),
    public scalar settings."""
    config = {"attack": type(attack).__name__, "model": attack.model.name,
              "model_parameters": int(attack.model.count_params()),
              "model_sha256": weights_sha256(attack.model)}
    for name, value in sorted(vars(attack).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, _JSON_SCALARS):
            config[name] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, _JSON_SCALARS) for v in value):
            config[name] = list(value)
    return config


def identity_keys(attack, config):
    """The keys of ``config`` that a run must agree on to be resumed: all of them (None),
    or all but ``batch_size`` for an attack whose ``results_depend_on_batch_size`` is
    False (the first run's batch size stays in the run record, for provenance)."""
    if getattr(attack, "results_depend_on_batch_size", True):
        return None
    return [key for key in config if key != "batch_size"]


def run_chunked(attack, x, labels, out_dir, chunk_size=100, seed=None, data_record=None,
                log=print):
    """Run ``attack`` over (x, labels) chunk by chunk, resuming a previous run in ``out_dir``.

    Args:
        attack: object with ``attack(x, labels) -> AttackResult`` and a ``model``.
        x: (N, H, W, C) float32 images in [0, 1].
        labels: (N,) int targets or true labels, as ``attack`` takes them.
        out_dir: directory of the run (created if missing).
        chunk_size: examples per chunk (the unit of resumption).
        seed: recorded in chunks.json (the attacks here are deterministic).
        data_record: provenance of x (e.g. `Dataset.record()`), recorded.
        log: callable receiving one progress line per chunk.

    Returns:
        `AttackResult` for all N examples, identical whether or not the run
        was interrupted.
    """
    x = check_images(x)
    labels = np.asarray(labels, np.int64)
    if labels.shape != (len(x),) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"labels must have shape ({len(x)},) and chunk_size must be a positive "
                         f"integer, got {labels.shape} and {chunk_size!r}")
    config = {**attack_config(attack), "chunk_size": int(chunk_size), "num_examples": len(x),
              "inputs_sha256": hashlib.sha256(x.tobytes() + labels.tobytes()).hexdigest()}
    store = RecordStore(out_dir, "chunks", config, seed, data_record,
                        keys=identity_keys(attack, config))

    starts = range(0, len(x), chunk_size)
    parts, attacked, seconds = [], 0, 0.0
    for number, start in enumerate(starts):
        stop = min(start + chunk_size, len(x))
        key = f"chunk-{number:05d}"
        with store.writing():  # another process on out_dir waits, then skips this chunk
            if key in store:
                parts.append(AttackResult.from_record(store.record(key), store.arrays(key)))
                continue
            began = time.time()
            result = attack.attack(x[start:stop], labels[start:stop])
            elapsed = time.time() - began
            record, arrays = result.to_record()
            store.put(key, {"start": start, "stop": stop, "seconds": elapsed, **record}, arrays)
        parts.append(result)
        attacked, seconds = attacked + stop - start, seconds + elapsed
        rate = attacked / seconds if seconds else float("inf")
        success = np.concatenate([part.success for part in parts])
        log(f"{config['attack']}: chunk {number + 1}/{len(starts)}, "
            f"{stop}/{len(x)} examples, {rate:.2f} examples/s, "
            f"ETA {_duration((len(x) - stop) / rate)}, SR so far {success.mean():.3f}")
    return AttackResult.concatenate(parts)


def _duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m{seconds:02d}s"
