"""What every experiment module needs: data, classifiers, the image sample, records.

``Experiment(dataset, profile)`` loads the dataset and the shipped point
classifiers that exist in this checkout, wraps the point network in the
region-based classifier, draws the protocol's benign images, and hands out
`AttackRecords` under the run's results directory.
"""
import hashlib
import os
import time

import numpy as np

from cw_attacks.registry import build
from cw_attacks.compose import combine
from experiments.attack_records import AttackRecords
from experiments.protocol import (IMAGE_SEED, POINT_CLASSIFIERS, WEIGHTS, get_profile,
                                  results_dir, select_images)
from models import load_dataset, load_pretrained
from models.pretrained import pretrained_record
from models.records import weights_sha256, write_json
from rc_keras import RegionClassifier
from rc_keras.radius import region_radius


def cached_judge(judge):
    """``judge`` memoised per image (by its bytes): each distinct image is judged once.

    The region-based classifier of an `Experiment` is seeded, so its label is
    a fixed function of the image and memoising changes no label; it saves
    judging the same examples again (targeted, then untargeted; the grids).
    """
    memo = {}

    def judge_cached(images):
        images = np.ascontiguousarray(images, np.float32)
        keys = [hashlib.sha1(image.tobytes()).hexdigest() for image in images]
        first = {}  # each image not judged yet -> its first row
        for i, key in enumerate(keys):
            if key not in memo:
                first.setdefault(key, i)
        if first:
            rows = list(first.values())
            for key, label in zip(first, np.asarray(judge(images[rows]))):
                memo[key] = int(label)
        return np.asarray([memo[key] for key in keys], np.int64)

    return judge_cached


class NotRecorded(KeyError):
    """Examples a run needs are not recorded, and the run may not attack that classifier."""

    def __str__(self):
        return str(self.args[0])


def predict_labels(model, x, batch_size=1000):
    """Argmax labels (N,) of a logits model on images (N, H, W, C)."""
    return np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=1)


class Experiment:
    """One dataset under one profile (see `experiments.protocol`).

    Attributes:
        data: the `Dataset`; profile: the `Profile`; out: results directory.
        models: name -> Keras logits model, for the point classifiers shipped.
        missing: point classifiers whose weights are not in this checkout.
        region: the `RegionClassifier` around models["point"].
        radius, radius_source: its radius and where it came from
            (`rc_keras.radius.region_radius`: the learned r, or the paper's
            when ``radius="paper"``; a missing learned r is an error).
        images: (profile.images,) test indices of the benign sample.
    """

    def __init__(self, dataset, profile="quick", images=None, data_dir=None, out=None, log=print,
                 radius="learned"):
        self.profile = get_profile(profile, images) if isinstance(profile, str) else profile
        self.dataset, self.log = dataset, log
        self.data = load_dataset(dataset, data_dir=data_dir)
        self.out = out or results_dir(dataset, self.profile)
        os.makedirs(self.out, exist_ok=True)
        self.models, self.missing, self._judges, self._weights = {}, [], {}, {}
        for name in POINT_CLASSIFIERS:
            weights = WEIGHTS[(dataset, name)]
            try:
                self.models[name] = load_pretrained(weights)
            except FileNotFoundError:  # absent: skipped; a corrupt file raises CorruptModelError
                self.missing.append(name)
        if "point" in self.missing:
            raise FileNotFoundError(f"the shipped {dataset} point classifier is missing")
        if self.missing:
            log(f"not in this checkout, skipped: {', '.join(self.missing)}")
        self.radius, self.radius_source = region_radius(dataset, radius)
        self.region = RegionClassifier(self.models["point"], self.radius,
                                       self.profile.num_samples, seed=self.profile.rc_seed,
                                       early_stop=True)
        point_labels = predict_labels(self.models["point"], self.data.x_test)
        self.images = select_images(point_labels, self.data.y_test, self.profile.images)

    @property
    def attacked(self):
        """The point classifiers this run attacks: shipped and named by the profile."""
        return [name for name in self.models if name in self.profile.attacked]

    def judge(self, classifier):
        """Images -> labels of ``classifier`` ("region" or a point classifier), memoised."""
        if classifier not in self._judges:
            labels = (self.region.predict_labels if classifier == "region"
                      else lambda x: predict_labels(self.models[classifier], x))
            self._judges[classifier] = cached_judge(labels)
        return self._judges[classifier]

    def recorded_images(self, classifier, names):
        """The longest prefix of the sample with records of every attack ``names`` on ``classifier``."""
        logs = [self.records(classifier, name) for name in names]
        count = 0
        while count < len(self.images) and all(log.done(self.images[count]) for log in logs):
            count += 1
        return self.images[:count]

    def records(self, classifier, name):
        """The `AttackRecords` ``name`` on ``classifier``, checked to be made on its weights and data."""
        records = AttackRecords(os.path.join(self.out, "attacks", classifier), name)
        if classifier in self.models:
            if classifier not in self._weights:
                self._weights[classifier] = weights_sha256(self.models[classifier])
            records.check_made_on(self._weights[classifier], self.data.sha256)
        return records

    def attack(self, classifier, name, images=None, targeted=True, records_name=None,
               **overrides):
        """`AttackResult` of attack ``name`` (cw_attacks.registry.ATTACKS) on a point classifier.

        Runs what is not recorded yet on ``images`` (default: the sample), in
        the records ``records_name`` (default ``name``). ``overrides`` are
        constructor arguments (e.g. confidence=20); give such a run its own
        ``records_name``. For a classifier the profile does not attack, only
        the records are read (`NotRecorded` if some are missing).
        """
        images = self.images if images is None else images
        records = self.records(classifier, records_name or name)
        if classifier not in self.profile.attacked:
            missing = [int(i) for i in images if not records.done(i)]
            if missing:
                raise NotRecorded(
                    f"no {records.name} records on {classifier} for test images {missing[:5]}"
                    f"{' ...' if len(missing) > 5 else ''} in {os.path.relpath(self.out)}, "
                    f"and this run attacks only {list(self.profile.attacked)} "
                    "(add it with --attacked)")
            return records.result(images)
        attack = build(name, self.models[classifier], self.profile.attack_settings,
                       targeted=targeted, **overrides)
        return records.run(
            attack, self.data.x_test, self.data.y_test, images, targeted=targeted,
            images_per_call=self.profile.images_per_call, seed=IMAGE_SEED,
            data_record=self.data.record(), log=self.log)

    def transferred(self, result, images, labels, norm, targeted=True):
        """The point classifier's examples judged by the region-based classifier."""
        x = self.data.x_test[np.repeat(images, len(labels) // len(images))]
        return combine([result], x, labels, self.judge("region"), norm, targeted)

    def model_records(self):
        """Training records of the classifiers used, for run records."""
        return {name: pretrained_record(WEIGHTS[(self.dataset, name)]) for name in self.models}

    def write_run_record(self, part, config, seconds):
        """<out>/<part>.run.json: config, seed, versions, data, models, radius, wall time."""
        from models.records import run_record
        record = run_record({"profile": self.profile.__dict__, **config}, IMAGE_SEED,
                            self.data.record())
        record.update({"images": self.images.tolist(), "radius": self.radius,
                       "radius_source": self.radius_source, "models": self.model_records(),
                       "missing_classifiers": self.missing, "wall_seconds": round(seconds, 1),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        write_json(os.path.join(self.out, f"{part}.run.json"), record)
