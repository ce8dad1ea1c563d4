"""Per-image attack records that survive interruption and grow with the sample.

`AttackRecords` keeps the examples of one attack on one classifier in the
`models.store.RecordStore` ``name`` of ``directory``:

    <name>.json             run record: the attack's parameters and the sha256
                            of the attacked weights (`cw_attacks.runner.attack_config`),
                            the sha256 of the test data, seed, versions
    <name>.jsonl            one line per benign test image, key "test-01234": its
                            labels (targets or true label), seconds (wall time
                            of its stream since the stream's previous record,
                            so a stream's records sum to its wall time) and
                            `AttackResult.to_record` (success, l0, l2, linf, iterations)
    <name>/test-01234.npz   that image's adversarial examples, written before its line

A run attacks the pending images in one stream (`Attack.attack_stream`, or
one per ``images_per_call`` images: the engine keeps its batch full,
refilling it as examples finish) and records each image as soon as its
examples are all done, so an interrupted run loses only the images in
flight; asking for more images later attacks only the new ones. The
store's lock is held only to record an image, never across the attack: a
second process on the same records (e.g. another shard) attacks the images
it is given, and an image another process recorded meanwhile is kept as
that process wrote it, never duplicated. Give concurrent processes disjoint
images (shards) to avoid redoing work.

Records are tied to what made them: attacking with other parameters, other
weights (even of the same architecture) or other data is refused with a
`models.store.ConfigMismatch` naming what changed (a batch size that only
changes speed, `Attack.results_depend_on_batch_size` False, may change:
a campaign begun on a CPU resumes with a GPU's larger batch); reading records
(`result`) for a model checks the weights and data they were made on
(`check_made_on`). To keep both, use another results directory.
"""
import time

import numpy as np

from cw_attacks.result import AttackResult
from cw_attacks.runner import attack_config, identity_keys
from experiments.protocol import targeted_examples
from models.store import RecordStore

# The config keys that identify what was attacked (checked also when only reading).
MADE_ON = ("model_sha256", "data_sha256")


def _key(index):
    return f"test-{int(index):05d}"


def records_config(attack, data_record):
    """The config of a records file: `attack_config` plus the sha256 of the test data."""
    return {**attack_config(attack), "data_sha256": (data_record or {}).get("sha256")}


def example_stream(attack, x, labels):
    """``attack.attack_stream(x, labels)``, or one (all rows, ``attack.attack``) item for an
    object without it."""
    if hasattr(attack, "attack_stream"):
        return attack.attack_stream(x, labels)
    return iter([(np.arange(len(x)), attack.attack(x, labels))])


class _Progress:
    """One log line per recorded image: count, seconds per image, time left."""

    def __init__(self, name, total, done, log):
        self.name, self.total, self.done, self.log = name, total, done, log
        self.attacked, self.seconds = 0, 0.0

    def image_done(self, index, seconds, recorded):
        self.done += 1
        self.attacked += 1
        self.seconds += seconds
        rate = self.seconds / self.attacked
        note = "" if recorded else (f" (test image {index} was recorded by another process "
                                    "meanwhile; its record is kept)")
        self.log(f"{self.name}: {self.done}/{self.total} images, {rate:.1f} s/image, about "
                 f"{rate * (self.total - self.done) / 60:.0f} min left{note}")


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

    def run(self, attack, x_test, y_test, indices, targeted=True, images_per_call=None,
            seed=None, data_record=None, log=print):
        """Attack the test images ``indices`` not yet recorded; return their `AttackResult`.

        Args:
            attack: an `Attack` (its ``attack_stream`` reports examples as
                they finish), or any object with ``attack(x, labels) ->
                AttackResult`` and a ``model`` (one call per stream).
            x_test, y_test: the test images (N, H, W, C) in [0, 1] and labels (N,).
            indices: test indices to cover, in order; exactly those not yet
                recorded are attacked (a shard gives its own).
            targeted: every wrong target of each image (9 examples per image),
                else one example per image with its true label.
            images_per_call: pending images per stream (default: all of them
                in one stream, the batch kept full throughout).
            data_record: provenance of x_test (`Dataset.record()`); its sha256
                is part of the records' config.
            log: receives one progress line per recorded image.

        Returns:
            `AttackResult` of all ``indices`` in order (9 rows per image if targeted).
        """
        config = records_config(attack, data_record)
        self.store = RecordStore(self.directory, self.name, config, seed, data_record,
                                 keys=identity_keys(attack, config))
        todo = [int(i) for i in indices if not self.done(i)]
        step = images_per_call or max(1, len(todo))
        progress = _Progress(self.name, len(indices), len(indices) - len(todo), log)
        for start in range(0, len(todo), step):
            self.store.refresh()   # skip what other processes recorded meanwhile
            group = np.asarray([i for i in todo[start:start + step] if not self.done(i)],
                               np.int64)
            if len(group):
                self._stream(attack, x_test, y_test, group, targeted, progress)
        return self.result(indices)

    def _stream(self, attack, x_test, y_test, group, targeted, progress):
        """Attack the images ``group`` in one stream, recording each as its examples finish."""
        x, labels = (targeted_examples(x_test[group], y_test[group]) if targeted
                     else (x_test[group], y_test[group]))
        per_image = len(x) // len(group)
        missing = np.full(len(group), per_image)   # examples still running, per image
        finished = [[] for _ in group]              # (rows, result) parts, per image
        last = time.time()
        for rows, result in example_stream(attack, x, labels):
            rows = np.asarray(rows, np.int64)
            for j in np.unique(rows // per_image):
                mine = rows // per_image == j
                finished[j].append((rows[mine], result[mine]))
                missing[j] -= int(mine.sum())
                if missing[j] < 0:
                    raise RuntimeError(f"{type(attack).__name__}'s stream reported an example "
                                       f"of test image {group[j]} twice")
                if missing[j] == 0:
                    now = time.time()
                    self._put(group[j], finished[j], labels[j * per_image:(j + 1) * per_image],
                              now - last, progress)
                    finished[j], last = None, now
        if missing.any():
            raise RuntimeError(f"{type(attack).__name__}'s stream ended without the examples of "
                               f"test images {group[missing > 0].tolist()}")

    def _put(self, index, parts, labels, seconds, progress):
        """Record test image ``index`` from its (rows, result) parts (any order)."""
        order = np.argsort(np.concatenate([rows for rows, _ in parts]))
        record, arrays = AttackResult.concatenate([r for _, r in parts])[order].to_record()
        recorded = self.store.put(_key(index), {"test_index": int(index),
                                                "labels": labels.tolist(),
                                                "seconds": seconds, **record}, arrays)
        progress.image_done(index, seconds, recorded)

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
