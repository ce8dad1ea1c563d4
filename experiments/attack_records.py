"""Per-image attack records that survive interruption and grow with the sample.

`AttackRecords` keeps the examples of one attack on one classifier in the
`models.store.RecordStore` ``name`` of ``directory``:

    <name>.json             run record: the attack's parameters and the sha256
                            of the attacked weights (`cw_attacks.runner.attack_config`),
                            the sha256 of the test data, seed, versions
    <name>.jsonl            one line per benign test image, key "test-01234": its
                            labels (targets or true label), seconds and
                            `AttackResult.to_record` (success, l0, l2, linf, iterations)
    <name>/test-01234.npz   that image's adversarial examples, written before its line

Images are attacked ``images_per_call`` at a time (one batch: the engine's
throughput grows with the batch) and recorded one by one. An interrupted run
loses at most the batch in progress; asking for more images later attacks
only the new ones; a second process on the same records waits for the batch
in progress and skips what it recorded.

Records are tied to what made them: attacking with other parameters, other
weights (even of the same architecture) or other data is refused with a
`models.store.ConfigMismatch` naming what changed; reading records
(`result`) for a model checks the weights and data they were made on
(`check_made_on`). To keep both, use another results directory.
"""
import time

import numpy as np

from cw_attacks.result import AttackResult
from cw_attacks.runner import attack_config
from experiments.protocol import targeted_examples
from models.store import RecordStore

# The config keys that identify what was attacked (checked also when only reading).
MADE_ON = ("model_sha256", "data_sha256")


def _key(index):
    return f"test-{int(index):05d}"


def records_config(attack, data_record):
    """The config of a records file: `attack_config` plus the sha256 of the test data."""
    return {**attack_config(attack), "data_sha256": (data_record or {}).get("sha256")}


class AttackRecords:
    """The records of attack ``name`` in ``directory`` (see the module doc)."""

    def __init__(self, directory, name):
        self.directory, self.name = directory, name
        self.store = RecordStore(directory, name)  # read-only until `run` names the config

    def done(self, index):
        return self.store.done(_key(index))

    def check_made_on(self, model_sha256, data_sha256):
        """Refuse (`ConfigMismatch`) records made on other weights or data than these.

        model_sha256: `models.records.weights_sha256` of the attacked model;
        data_sha256: the dataset file's (`Dataset.sha256`).
        """
        self.store.check({"model_sha256": model_sha256, "data_sha256": data_sha256},
                         keys=MADE_ON, advice="these records belong to another model or data; "
                         "use another results directory")

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
            data_record: provenance of x_test (`Dataset.record()`); its sha256
                is part of the records' config.

        Returns:
            `AttackResult` of all ``indices`` in order (9 rows per image if targeted).
        """
        self.store = RecordStore(self.directory, self.name, records_config(attack, data_record),
                                 seed, data_record)
        todo = [int(i) for i in indices if not self.done(i)]
        began_all, finished = time.time(), 0
        for start in range(0, len(todo), images_per_call):
            with self.store.writing():  # another process waits, then skips these images
                group = np.asarray([i for i in todo[start:start + images_per_call]
                                    if not self.done(i)], np.int64)
                if len(group):
                    self._attack(attack, x_test, y_test, group, targeted)
            finished += len(todo[start:start + images_per_call])
            rate = (time.time() - began_all) / finished
            log(f"{self.name}: {len(indices) - len(todo) + finished}/{len(indices)} images, "
                f"{rate:.1f} s/image, about {rate * (len(todo) - finished) / 60:.0f} min left")
        return self.result(indices)

    def _attack(self, attack, x_test, y_test, group, targeted):
        x, labels = (targeted_examples(x_test[group], y_test[group]) if targeted
                     else (x_test[group], y_test[group]))
        began = time.time()
        result = attack.attack(x, labels)
        seconds = (time.time() - began) / len(group)
        per_image = len(x) // len(group)
        for j, index in enumerate(group):
            rows = slice(j * per_image, (j + 1) * per_image)
            record, arrays = result[rows].to_record()
            self.store.put(_key(index), {"test_index": int(index),
                                         "labels": labels[rows].tolist(),
                                         "seconds": seconds, **record}, arrays)

    def result(self, indices):
        """`AttackResult` of the recorded images ``indices`` (KeyError names a missing one)."""
        parts = []
        for index in indices:
            key = _key(index)
            if not self.store.done(key):
                raise KeyError(f"{self.name}: no record of test image {index} in {self.directory}")
            parts.append(AttackResult.from_record(self.store.record(key), self.store.arrays(key)))
        return AttackResult.concatenate(parts)

    def labels(self, indices):
        """The labels (targets or true labels) of the recorded images ``indices``, concatenated."""
        return np.concatenate([np.asarray(self.store.record(_key(i))["labels"], np.int64)
                               for i in indices])
