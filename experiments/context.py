"""What every experiment module needs: data, classifiers, the image sample, records.

``Experiment(dataset, profile)`` loads the dataset and the shipped point
classifiers that exist in this checkout, wraps the point network in the
region-based classifier, draws the protocol's benign images, and hands out
`AttackRecords` under the run's results directory. ``shard=Shard(K, N)``
(`experiments.shards`) makes it attack only its share of the images.
"""
import functools
import hashlib
import os
import time

import numpy as np

from cw_attacks.registry import build
from cw_attacks.compose import combine
from experiments.attack_records import AttackRecords
from experiments.protocol import (IMAGE_SEED, POINT_CLASSIFIERS, WEIGHTS, get_profile,
                                  results_dir, select_images)
from experiments.shards import Shard
from models import load_dataset, load_pretrained
from models.pretrained import pretrained_record
from models.records import weights_sha256, write_json
from rc_keras import RegionClassifier
from rc_keras.radius import PAPER_RADIUS, region_radius


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


def records_key(classifier, records_name):
    """The name of the records of ``records_name`` on ``classifier`` ("point/CW-L2"), the
    unit `Experiment.share` splits across shards."""
    return f"{classifier}/{records_name}"


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
        radius_choice: "learned" or "paper", the ``radius`` asked for.
        images: (profile.images,) test indices of the benign sample (every
            shard's: results and reports are about the whole sample).
        shard: the `Shard` this process attacks, or None (all images).
    """

    def __init__(self, dataset, profile="quick", images=None, data_dir=None, out=None, log=print,
                 radius="learned", shard=None):
        self.profile = get_profile(profile, images) if isinstance(profile, str) else profile
        if shard is not None and not isinstance(shard, Shard):
            raise ValueError(f"shard must be an experiments.shards.Shard or None, got {shard!r}")
        self.dataset, self.log, self.shard = dataset, log, shard
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
        self.radius_choice = radius
        if self.radius == 0:
            log(f"warning: the {radius} r of {dataset} is 0, so the region-based classifier is "
                "the point classifier; --radius paper runs it at the paper's r")
        self.region = self.region_classifier(self.radius)
        point_labels = predict_labels(self.models["point"], self.data.x_test)
        self.images = select_images(point_labels, self.data.y_test, self.profile.images)

    def share(self, images, key, group=None):
        """The test indices of ``images`` (all in the sample) this process attacks for the
        records ``key`` (`records_key`), in order.

        Unsharded: all of them. With ``shard``: those whose position in the
        sample (`images`) is the shard's for ``key``, in groups of ``group``
        (default: the profile's ``images_per_call``, the images attacked
        together; `experiments.shards`), so a subset of the sample is split
        as the sample is.
        """
        images = np.asarray(images, np.int64)
        if self.shard is None:
            return images
        position = {int(index): p for p, index in enumerate(self.images)}
        outside = [int(i) for i in images if int(i) not in position]
        if outside:
            raise ValueError(f"test images {outside[:5]} are not in the run's sample; a sharded "
                             "run splits only the sample")
        return images[self.shard.takes([position[int(i)] for i in images],
                                       group or self.profile.images_per_call, key)]

    @property
    def attacked(self):
        """The point classifiers this run attacks: shipped and named by the profile."""
        return [name for name in self.models if name in self.profile.attacked]

    def region_classifier(self, radius):
        """A `RegionClassifier` around the point network at ``radius`` with the run's m and
        seed, early-stopped: the run's RC at another r."""
        return RegionClassifier(self.models["point"], radius, self.profile.num_samples,
                                seed=self.profile.rc_seed, early_stop=True)

    @property
    def region_radii(self):
        """{region-based judge: its r}: "region" at the run's r and, when that is not the
        paper's (`rc_keras.radius.PAPER_RADIUS`), "region-paper" at the paper's r."""
        paper = PAPER_RADIUS[self.dataset]
        return {"region": self.radius, **({"region-paper": paper} if paper != self.radius else {})}

    def judge(self, classifier):
        """Images -> labels of ``classifier``, memoised: a point classifier, "region" (the
        run's RC) or "region-paper" (the same RC at the paper's r, `region_radii`)."""
        if classifier not in self._judges:
            if classifier == "region":
                labels = self.region.predict_labels
            elif classifier == "region-paper":
                labels = self.region_classifier(PAPER_RADIUS[self.dataset]).predict_labels
            elif classifier in self.models:
                labels = functools.partial(predict_labels, self.models[classifier])
            else:
                raise ValueError(f"unknown classifier {classifier!r}; expected one of "
                                 f"{list(self.models) + ['region', 'region-paper']}")
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
        the records are read (`NotRecorded` if some are missing). A sharded
        run attacks only its `share` of ``images`` and reads the others'
        (`NotRecorded` while another shard has not recorded them).
        """
        images = self.images if images is None else np.asarray(images, np.int64)
        records = self.records(classifier, records_name or name)
        if classifier not in self.profile.attacked:
            self._check_recorded(records, classifier, images,
                                 f"this run attacks only {list(self.profile.attacked)} "
                                 "(add it with --attacked)")
            return records.result(images)
        share = self.share(images, records_key(classifier, records.name))
        if len(share):
            attack = self.build_attack(name, self.models[classifier], targeted, **overrides)
            result = records.run(
                attack, self.data.x_test, self.data.y_test, share, targeted=targeted,
                images_per_call=self.profile.images_per_call, seed=IMAGE_SEED,
                data_record=self.data.record(), log=self.log)
            if len(share) == len(images):
                return result
        self._check_recorded(records, classifier, images,
                             f"they are other shards' than this run's {self.shard}; build "
                             "the report once every shard has finished")
        return records.result(images)

    def build_attack(self, name, model, targeted, **overrides):
        """Attack ``name`` (cw_attacks.registry) on ``model`` with the profile's settings
        and batch size, updated by ``overrides``."""
        if self.profile.batch_size is not None:
            overrides = {"batch_size": self.profile.batch_size, **overrides}
        return build(name, model, self.profile.attack_settings, targeted=targeted, **overrides)

    def _check_recorded(self, records, classifier, images, why):
        """`NotRecorded` naming the first of ``images`` without records, and ``why``."""
        missing = [int(i) for i in images if not records.done(i)]
        if missing:
            raise NotRecorded(
                f"no {records.name} records on {classifier} for test images {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''} in {os.path.relpath(self.out)}, "
                f"and {why}")

    def transferred(self, result, images, labels, norm, targeted=True, judge="region"):
        """The point classifier's examples judged by the region-based classifier ``judge``
        ("region" or "region-paper", `region_radii`)."""
        x = self.data.x_test[np.repeat(images, len(labels) // len(images))]
        return combine([result], x, labels, self.judge(judge), norm, targeted)

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
