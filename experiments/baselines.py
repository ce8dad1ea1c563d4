"""The paper's baseline defences, trained by a resumable pipeline.

``python -m experiments.baselines --dataset mnist|cifar10
--defence distilled|advtrained [--epochs N] [--work-dir build/baselines]
[--train-limit N] [--out models/weights]``

Cao & Gong (section 6.1) compare region-based classification with two
defences of the point classifier, both using the same architecture:

Adversarial training (``advtrained``)
    For every training image, one untargeted DeepFool example is generated
    on the point classifier (the shipped ``models.load_pretrained(dataset)``
    network; DeepFool with its reference settings, overshoot 0.02 and at
    most 50 iterations). A fresh network is then trained with the dataset's
    normal recipe on the training originals plus these examples, each
    adversarial example keeping the TRUE label of its original.
    Where DeepFool fails on an image (rare), its "example" is the original
    image itself (`cw_attacks.AttackResult` resets failures to x); it is
    kept anyway, so the set always has exactly one extra image per training
    image, and the failure count is recorded.

Defensive distillation (``distilled``, Papernot et al., 2016)
    A teacher is trained at softmax temperature T = 100 on the hard labels;
    the training set is relabelled with the teacher's softmax(logits / T);
    a student of the same architecture is trained at T = 100 on those soft
    labels. The student is deployed at T = 1, i.e. its logits are used
    unchanged (attacks and accuracy use the saved model's logits as they
    are). Both networks train with Adam at learning rate 1e-3: the SGD
    recipe stays at chance accuracy at T = 100 (see models/distill.py).

Steps, each skipped when its output exists, so rerunning the same command
resumes (and training itself resumes from its per-epoch checkpoints,
``<out>.ckpt/``, see models.train):

    distilled   1. teacher  <work>/<dataset>-distilled-teacher.keras (+ .json)
                2. student  <out>/<dataset>-distilled.keras (+ .json)
    advtrained  1. DeepFool on the training set, chunked and resumable, in
                   <work>/<dataset>-deepfool-train/ (cw_attacks.run_chunked),
                   then <work>/<dataset>-deepfool-train.npz ("x": the DeepFool
                   images, "y": the true labels, "success") with a summary
                   <work>/<dataset>-deepfool-train.json
                2. model    <out>/<dataset>-advtrained.keras (+ .json)

The JSON record beside the final weights (written by models.train) names
the pipeline command, and gets a "pipeline" entry: the defence's
configuration and the teacher's record (distilled), or DeepFool's success
rate, mean L2 and seconds on the training set (advtrained). A finished
output made with a different epoch count, temperature or training-set size
is refused rather than silently reused: delete it to redo that step.
"""
import argparse
import dataclasses
import json
import os
import shlex
import time

import numpy as np

from cw_attacks import DeepFool, run_chunked
from experiments.cli import progress
from models.cli import ArgumentParser, check_writable_dir, positive_int, run_main
from models.data import DATASETS, file_sha256, load_dataset
from models.pretrained import _path as pretrained_path, load_pretrained
from models.records import write_json
from models.store import RecordStore, check_config, save_npz
from models.train import RECIPES, train

DEFENCES = ("distilled", "advtrained")
DEFAULT_WORK_DIR = os.path.join("build", "baselines")
DEFAULT_OUT_DIR = os.path.join("models", "weights")


@dataclasses.dataclass
class DistillationConfig:
    """Defensive distillation: teacher and student both at ``temperature``."""

    temperature: float = 100.0
    optimizer: str = "adam"       # SGD stays at chance at T = 100 (models/distill.py)
    learning_rate: float = 1e-3
    epochs: int | None = None     # None: the dataset recipe's
    seed: int = 0
    deployed_temperature: float = 1.0   # the student's logits are used unchanged


@dataclasses.dataclass
class AdversarialTrainingConfig:
    """Adversarial training on originals + one DeepFool example per training image."""

    overshoot: float = 0.02       # DeepFool's reference settings
    max_iterations: int = 50
    chunk_size: int = 1000        # DeepFool examples per resumable chunk
    epochs: int | None = None     # None: the dataset recipe's (optimizer etc. unchanged)
    seed: int = 0


def _check_choice(value, choices, what):
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {tuple(choices)}")


def _stem(path):
    return path[:-len(".keras")]


def _read_record(keras_path):
    """The JSON record beside ``keras_path``, or None when the weights or record are missing."""
    json_path = _stem(keras_path) + ".json"
    if not (os.path.exists(keras_path) and os.path.exists(json_path)):
        return None
    with open(json_path) as f:
        return json.load(f)


def _check_reusable(path, record, expected):
    """Refuse a finished output whose record disagrees with what this run would produce.

    ``expected`` maps record keys ("a.b" for record["a"]["b"]) to the values this run wants.
    """
    check_config(f"{path} exists but was made differently", record, expected,
                 keys=list(expected),
                 advice="delete it (and its .json / .ckpt/) to redo this step")


def pipeline_command(dataset, defence, epochs=None, work_dir=DEFAULT_WORK_DIR,
                     out_dir=DEFAULT_OUT_DIR, train_limit=None, chunk_size=None):
    """The CLI command that reproduces a pipeline run (recorded beside its outputs)."""
    args = ["python", "-m", "experiments.baselines", "--dataset", dataset, "--defence", defence]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if work_dir != DEFAULT_WORK_DIR:
        args += ["--work-dir", work_dir]
    if out_dir != DEFAULT_OUT_DIR:
        args += ["--out", out_dir]
    if train_limit is not None:
        args += ["--train-limit", str(train_limit)]
    if chunk_size is not None and chunk_size != AdversarialTrainingConfig.chunk_size:
        args += ["--chunk-size", str(chunk_size)]
    return shlex.join(args)


def run_distilled(dataset, config=None, work_dir=DEFAULT_WORK_DIR, out_dir=DEFAULT_OUT_DIR,
                  train_limit=None, data_dir=None, verbose="auto", log=print):
    """Teacher at T, then student at T on the teacher's soft labels; returns the student's record."""
    _check_choice(dataset, DATASETS, "dataset")
    config = config or DistillationConfig()
    if not config.temperature > 0:
        raise ValueError(f"temperature must be > 0, got {config.temperature}")
    epochs = config.epochs or RECIPES[dataset].epochs
    command = pipeline_command(dataset, "distilled", config.epochs, work_dir, out_dir, train_limit)
    n_train = len(load_dataset(dataset, data_dir=data_dir).x_train[:train_limit])
    os.makedirs(work_dir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    common = dict(dataset=dataset, epochs=epochs, seed=config.seed, temperature=config.temperature,
                  optimizer=config.optimizer, learning_rate=config.learning_rate,
                  data_dir=data_dir, train_limit=train_limit, verbose=verbose)
    expected = {"epochs": epochs, "temperature": config.temperature, "train_images": n_train,
                "recipe.optimizer": config.optimizer,
                "recipe.learning_rate": config.learning_rate}

    teacher = os.path.join(work_dir, f"{dataset}-distilled-teacher.keras")
    teacher_record = _read_record(teacher)
    if teacher_record is None:
        log(f"[1/2] training the teacher at T = {config.temperature:g}: {teacher}")
        teacher_record = train(out=teacher, command=f"{command}  # step 1/2: teacher", **common)
    else:
        _check_reusable(teacher, teacher_record, expected)
        log(f"[1/2] teacher exists, skipped: {teacher}")

    student = os.path.join(out_dir, f"{dataset}-distilled.keras")
    record = _read_record(student)
    if record is not None and "pipeline" in record:
        _check_reusable(student, record, {**expected, "teacher": teacher})
        log(f"[2/2] student exists, skipped: {student}")
        return record
    log(f"[2/2] training the student at T = {config.temperature:g} on the teacher's "
        f"soft labels: {student}")
    record = train(out=student, teacher=teacher, command=f"{command}  # step 2/2: student",
                   **common)
    record["pipeline"] = {
        "defence": "distilled", "command": command, "config": dataclasses.asdict(config),
        "deployment": "the student's logits unchanged (softmax temperature 1)",
        "teacher_path": teacher, "teacher_sha256": file_sha256(teacher),
        "teacher": teacher_record}
    write_json(_stem(student) + ".json", record)
    log(f"teacher {teacher}: validation accuracy {teacher_record['validation_accuracy']:.4f}, "
        f"test accuracy {teacher_record['test_accuracy']:.4f}")
    return record


def deepfool_training_set(dataset, config=None, work_dir=DEFAULT_WORK_DIR, train_limit=None,
                          data_dir=None, log=print):
    """One DeepFool example per training image on the shipped point model, with true labels.

    Writes (or reuses) ``<work>/<dataset>-deepfool-train.npz`` and its
    summary ``.json``; returns (npz path, summary dict).
    """
    _check_choice(dataset, DATASETS, "dataset")
    config = config or AdversarialTrainingConfig()
    data = load_dataset(dataset, data_dir=data_dir)
    x, y = data.x_train[:train_limit], data.y_train[:train_limit]
    stem = os.path.join(work_dir, f"{dataset}-deepfool-train")
    npz_path, summary_path = stem + ".npz", stem + ".json"
    attack_settings = {"attack": "DeepFool", "overshoot": config.overshoot,
                       "max_iterations": config.max_iterations}
    if os.path.exists(npz_path) and os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        _check_reusable(npz_path, summary, {"images": len(x), "attack": attack_settings})
        log(f"[1/2] DeepFool training set exists, skipped: {npz_path}")
        return npz_path, summary

    model = load_pretrained(dataset)
    attack = DeepFool(model, overshoot=config.overshoot, max_iterations=config.max_iterations)
    log(f"[1/2] DeepFool on {len(x):,} training images of the point model "
        f"{dataset!r}, chunks of {config.chunk_size} in {stem}/")
    data_record = {**data.record(), "images": f"x_train[:{len(x)}] (true labels)"}
    began = time.time()
    result = run_chunked(attack, x, y, out_dir=stem, chunk_size=config.chunk_size,
                         seed=config.seed, data_record=data_record, log=log)
    chunks = RecordStore(stem, "chunks").records.values()
    attack_seconds = sum(chunk["seconds"] for chunk in chunks)
    # The adversarial example keeps its TRUE label; failures (image == original) are kept too.
    save_npz(npz_path, x=result.adversarial, y=np.asarray(y, np.int64), success=result.success)
    summary = {
        "images": len(x), "point_model": dataset,
        "point_model_sha256": file_sha256(pretrained_path(dataset)),
        "attack": attack_settings,
        "success_rate": result.success_rate,
        "failures_kept_as_originals": int(np.sum(~result.success)),
        "mean_l2": result.mean_noise("l2"),
        "mean_linf": result.mean_noise("linf"),
        "mean_iterations": float(np.mean(result.iterations)) if len(result) else 0.0,
        "attack_seconds": round(attack_seconds, 1),
        "seconds_this_run": round(time.time() - began, 1),
        "run_dir": stem, "npz": npz_path, "npz_sha256": file_sha256(npz_path),
        "data": data_record,
        "note": "mean_l2 / mean_linf over successful examples; y holds the true labels; "
                "failed examples are the unchanged originals and are kept",
    }
    write_json(summary_path, summary)
    log(f"DeepFool on the training set: SR {summary['success_rate']:.4f}, "
        f"mean L2 {summary['mean_l2']:.4f}, {summary['attack_seconds']:.0f} s attacking")
    return npz_path, summary


def run_advtrained(dataset, config=None, work_dir=DEFAULT_WORK_DIR, out_dir=DEFAULT_OUT_DIR,
                   train_limit=None, data_dir=None, verbose="auto", log=print):
    """DeepFool training set, then a fresh model on originals + it; returns its record."""
    _check_choice(dataset, DATASETS, "dataset")
    config = config or AdversarialTrainingConfig()
    epochs = config.epochs or RECIPES[dataset].epochs
    command = pipeline_command(dataset, "advtrained", config.epochs, work_dir, out_dir,
                               train_limit, config.chunk_size)
    os.makedirs(work_dir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    npz_path, summary = deepfool_training_set(dataset, config, work_dir, train_limit, data_dir,
                                              log=log)

    out = os.path.join(out_dir, f"{dataset}-advtrained.keras")
    record = _read_record(out)
    expected = {"epochs": epochs, "train_images": 2 * summary["images"],
                "extra_train": npz_path}
    if record is not None and "pipeline" in record:
        _check_reusable(out, record, expected)
        log(f"[2/2] adversarially trained model exists, skipped: {out}")
        return record
    log(f"[2/2] training on {summary['images']:,} originals + {summary['images']:,} "
        f"DeepFool examples: {out}")
    record = train(dataset=dataset, out=out, epochs=epochs, seed=config.seed,
                   data_dir=data_dir, train_limit=train_limit, extra_train=npz_path,
                   verbose=verbose, command=f"{command}  # step 2/2: adversarial training")
    record["pipeline"] = {"defence": "advtrained", "command": command,
                          "config": dataclasses.asdict(config), "deepfool_train": summary}
    write_json(_stem(out) + ".json", record)
    return record


def run(dataset, defence, epochs=None, work_dir=DEFAULT_WORK_DIR, out_dir=DEFAULT_OUT_DIR,
        train_limit=None, data_dir=None, chunk_size=None, verbose="auto", log=print):
    """Run (or resume) the pipeline of ``defence`` on ``dataset``; returns the final record."""
    _check_choice(dataset, DATASETS, "dataset")
    _check_choice(defence, DEFENCES, "defence")
    if defence == "distilled":
        if chunk_size is not None:
            raise ValueError("chunk_size applies to the advtrained defence only")
        return run_distilled(dataset, DistillationConfig(epochs=epochs), work_dir, out_dir,
                             train_limit, data_dir, verbose, log)
    config = AdversarialTrainingConfig(epochs=epochs)
    if chunk_size is not None:
        if int(chunk_size) != chunk_size or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        config.chunk_size = int(chunk_size)
    return run_advtrained(dataset, config, work_dir, out_dir, train_limit, data_dir, verbose, log)


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--defence", choices=DEFENCES, required=True)
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's epoch count")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR,
                        help="intermediate files: teacher, DeepFool runs (default %(default)s)")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR,
                        help="folder of the final <dataset>-<defence>.keras (default %(default)s)")
    parser.add_argument("--train-limit", type=positive_int, help="use only the first N training images")
    parser.add_argument("--chunk-size", type=positive_int,
                        help=f"advtrained: DeepFool examples per resumable chunk "
                             f"(default {AdversarialTrainingConfig.chunk_size})")
    parser.add_argument("--data-dir", help="folder with mnist.npz / cifar10.npz (default $RC_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.chunk_size is not None and args.defence != "advtrained":
        parser.error("--chunk-size applies to --defence advtrained only")
    check_writable_dir(args.out, "--out")
    check_writable_dir(args.work_dir, "--work-dir")
    return run(args.dataset, args.defence, epochs=args.epochs, work_dir=args.work_dir,
               out_dir=args.out, train_limit=args.train_limit, data_dir=args.data_dir,
               chunk_size=args.chunk_size, log=progress)


if __name__ == "__main__":
    run_main(main)
