"""Long attack runs in chunks that survive interruption.

`run_chunked` runs ``attack.attack`` over consecutive chunks of the examples
and keeps, in ``out_dir``:

    run.json          `run_record` of the run: the attack's class and
                      parameters, chunk size, number of examples and the
                      sha256 of the inputs (x, labels), seed, versions, data
    chunks.jsonl      a `JsonLines` record per finished chunk, key
                      "chunk-00000", ...: start, stop, seconds and the
                      per-example success, l0, l2, linf and iterations
    chunk-00000.npz   that chunk's adversarial images ("adversarial",
                      float32 (n, H, W, C)), written before its line

A chunk counts as finished once its line is on disk, so a run killed at any
point loses at most the chunk in progress; running the same command again
loads the finished chunks and attacks only the others. A run directory
whose run.json describes a different attack, parameters or inputs is
refused rather than mixed.
"""
import hashlib
import json
import os
import time

import numpy as np

from cw_attacks.compose import concatenate
from cw_attacks.result import AttackResult
from models.checks import check_images
from models.records import JsonLines, run_record, write_json

_JSON_SCALARS = (bool, int, float, str)


def attack_config(attack):
    """JSON-ready parameters of an attack: class, model name and size, public scalar settings."""
    config = {"attack": type(attack).__name__, "model": attack.model.name,
              "model_parameters": int(attack.model.count_params())}
    for name, value in sorted(vars(attack).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, _JSON_SCALARS):
            config[name] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, _JSON_SCALARS) for v in value):
            config[name] = list(value)
    return config


def run_chunked(attack, x, labels, out_dir, chunk_size=100, seed=None, data_record=None,
                log=print):
    """Run ``attack`` over (x, labels) chunk by chunk, resuming a previous run in ``out_dir``.

    Args:
        attack: object with ``attack(x, labels) -> AttackResult`` and a ``model``.
        x: (N, H, W, C) float32 images in [0, 1].
        labels: (N,) int targets or true labels, as ``attack`` takes them.
        out_dir: directory of the run (created if missing).
        chunk_size: examples per chunk (the unit of resumption).
        seed: recorded in run.json (the attacks here are deterministic).
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
    config = {"attack": attack_config(attack), "chunk_size": int(chunk_size),
              "num_examples": len(x),
              "inputs_sha256": hashlib.sha256(x.tobytes() + labels.tobytes()).hexdigest()}
    os.makedirs(out_dir, exist_ok=True)
    record_path = os.path.join(out_dir, "run.json")
    if os.path.exists(record_path):
        with open(record_path) as f:
            stored = json.load(f)["config"]
        if stored != json.loads(json.dumps(config)):
            raise ValueError(f"{out_dir} holds a different run ({record_path}: {stored}); "
                             "use another directory")
    else:
        write_json(record_path, run_record(config, seed, data_record))
    chunks = JsonLines(os.path.join(out_dir, "chunks.jsonl"))

    starts = range(0, len(x), chunk_size)
    parts, attacked, seconds = [], 0, 0.0
    for number, start in enumerate(starts):
        stop = min(start + chunk_size, len(x))
        key = f"chunk-{number:05d}"
        images_path = os.path.join(out_dir, f"{key}.npz")
        if chunks.done(key):
            parts.append(_load_chunk(chunks.records[key], images_path))
            continue
        began = time.time()
        result = attack.attack(x[start:stop], labels[start:stop])
        elapsed = time.time() - began
        _save_images(images_path, result.adversarial)
        chunks.append(key, {"start": start, "stop": stop, "seconds": elapsed,
                            "success": result.success.tolist(), "l0": result.l0.tolist(),
                            "l2": result.l2.tolist(), "linf": result.linf.tolist(),
                            "iterations": result.iterations.tolist()})
        parts.append(result)
        attacked, seconds = attacked + stop - start, seconds + elapsed
        rate = attacked / seconds if seconds else float("inf")
        success = np.concatenate([part.success for part in parts])
        log(f"{config['attack']['attack']}: chunk {number + 1}/{len(starts)}, "
            f"{stop}/{len(x)} examples, {rate:.2f} examples/s, "
            f"ETA {_duration((len(x) - stop) / rate)}, SR so far {success.mean():.3f}")
    return concatenate(parts)


def _save_images(path, adversarial):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        np.savez_compressed(f, adversarial=adversarial)
    os.replace(tmp, path)


def _load_chunk(record, images_path):
    with np.load(images_path) as data:
        adversarial = data["adversarial"]
    return AttackResult(adversarial, np.asarray(record["success"], bool),
                        *(np.asarray(record[k], np.float64) for k in ("l0", "l2", "linf")),
                        np.asarray(record["iterations"], np.int64))


def _duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m{seconds:02d}s"
