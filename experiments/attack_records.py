"""Per-image attack records that survive interruption and grow with the sample.

`AttackRecords` keeps the examples of one attack on one classifier under
``<directory>/<name>``:

    <name>.json         run record: the attack's parameters, seed, versions, data
    <name>.jsonl        one line per benign test image, key "test-01234": its
                        labels (targets or true label), seconds, per-example
                        success, l0, l2, linf and iterations
    <name>/test-01234.npz   that image's adversarial examples, written before its line

Images are attacked ``images_per_call`` at a time (one batch: the engine's
throughput grows with the batch) and recorded one by one. An interrupted run
loses at most the batch in progress; asking for more images later attacks
only the new ones. A directory whose run record names other attack
parameters is refused rather than mixed.
"""
import json
import os
import time

import numpy as np

from cw_attacks.compose import concatenate
from cw_attacks.result import AttackResult
from cw_attacks.runner import attack_config
from experiments.protocol import targeted_examples
from models.records import JsonLines, run_record, write_json


def _key(index):
    return f"test-{int(index):05d}"


class AttackRecords:
    """The records of attack ``name`` in ``directory`` (see the module doc)."""

    def __init__(self, directory, name):
        self.directory, self.name = directory, name
        os.makedirs(os.path.join(directory, name), exist_ok=True)
        self.log = JsonLines(os.path.join(directory, f"{name}.jsonl"))

    def done(self, index):
        return self.log.done(_key(index))

    def run(self, attack, x_test, y_test, indices, targeted=True, images_per_call=5,
            seed=None, data_record=None, log=print):
        """Attack the test images ``indices`` not yet recorded; return their `AttackResult`.

        Args:
            attack: object with ``attack(x, labels) -> AttackResult`` and a ``model``.
            x_test, y_test: the test images (N, H, W, C) in [0, 1] and labels (N,).
            indices: test indices to cover, in order.
            targeted: every wrong target of each image (9 examples per image),
                else one example per image with its true label.
            images_per_call: images per ``attack.attack`` call.

        Returns:
            `AttackResult` of all ``indices`` in order (9 rows per image if targeted).
        """
        self._check_config(attack, seed, data_record)
        todo = [int(i) for i in indices if not self.done(i)]
        began_all, finished = time.time(), 0
        for start in range(0, len(todo), images_per_call):
            group = np.asarray(todo[start:start + images_per_call])
            x, labels = (targeted_examples(x_test[group], y_test[group]) if targeted
                         else (x_test[group], y_test[group]))
            began = time.time()
            result = attack.attack(x, labels)
            seconds = (time.time() - began) / len(group)
            per_image = len(x) // len(group)
            for j, index in enumerate(group):
                rows = slice(j * per_image, (j + 1) * per_image)
                self._save(index, labels[rows], seconds, result, rows)
            finished += len(group)
            rate = (time.time() - began_all) / finished
            log(f"{self.name}: {len(indices) - len(todo) + finished}/{len(indices)} images, "
                f"{seconds:.1f} s/image, about {rate * (len(todo) - finished) / 60:.0f} min left")
        return self.result(indices)

    def result(self, indices):
        """`AttackResult` of the recorded images ``indices`` (KeyError names a missing one)."""
        parts = []
        for index in indices:
            key = _key(index)
            if not self.log.done(key):
                raise KeyError(f"{self.name}: no record of test image {index} in {self.directory}")
            record = self.log.records[key]
            with np.load(os.path.join(self.directory, self.name, f"{key}.npz")) as data:
                adversarial = data["adversarial"]
            parts.append(AttackResult(
                adversarial, np.asarray(record["success"], bool),
                *(np.asarray(record[k], np.float64) for k in ("l0", "l2", "linf")),
                np.asarray(record["iterations"], np.int64)))
        return concatenate(parts)

    def labels(self, indices):
        """The labels (targets or true labels) of the recorded images ``indices``, concatenated."""
        return np.concatenate([np.asarray(self.log.records[_key(i)]["labels"], np.int64)
                               for i in indices])

    def _save(self, index, labels, seconds, result, rows):
        key = _key(index)
        path = os.path.join(self.directory, self.name, f"{key}.npz")
        with open(path + ".tmp", "wb") as f:
            np.savez_compressed(f, adversarial=result.adversarial[rows])
        os.replace(path + ".tmp", path)
        self.log.append(key, {"test_index": int(index), "labels": labels.tolist(),
                              "seconds": seconds, "success": result.success[rows].tolist(),
                              "l0": result.l0[rows].tolist(), "l2": result.l2[rows].tolist(),
                              "linf": result.linf[rows].tolist(),
                              "iterations": result.iterations[rows].tolist()})

    def _check_config(self, attack, seed, data_record):
        config = json.loads(json.dumps(attack_config(attack)))
        path = os.path.join(self.directory, f"{self.name}.json")
        if os.path.exists(path):
            with open(path) as f:
                stored = json.load(f)["config"]
            if stored != config:
                raise ValueError(f"{path} records another attack setting ({stored}), not "
                                 f"{config}; use another results directory")
        else:
            write_json(path, run_record(config, seed, data_record))
