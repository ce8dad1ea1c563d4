"""Training CLI: ``python -m models.train --dataset mnist|cifar10 [...]``.

Trains the dataset's network with the recipe below, saves a checkpoint every
epoch, resumes automatically from the last checkpoint after an interruption,
and writes ``<out>.keras`` with a JSON record ``<out>.json`` beside it
(command, seed, epochs, validation and test accuracy, package versions, data
sha256, training time).

Recipes (`RECIPES`):
  mnist    the CW MNIST net; SGD lr 0.01, momentum 0.9, Nesterov, batch 128,
           50 epochs (the paper's / Carlini-Wagner's recipe).
  cifar10  ResNet-20 (weight decay 5e-4); SGD momentum 0.9 Nesterov, batch
           128, a one-cycle learning rate (linear warm-up to 0.1 over 2
           epochs, then linear decay to 0) over 40 epochs, label smoothing
           0.1, random crops of the 4-pixel zero-padded image and horizontal
           flips, mixed bfloat16 arithmetic (float32 weights; the shipped
           model is a float32 copy). A short schedule chosen to fit a 2-core
           CPU budget (see the README for the speed measurements).

Resume: the checkpoint ``<out>.ckpt/`` stores the run's configuration; a
re-run with other settings is refused (``--restart`` discards the
checkpoint). The data order, the augmentation and the dropout masks are pure
functions of (seed, epoch, image), so a run interrupted between epochs and resumed ends
with the same weights as an uninterrupted one.
``--temperature T`` trains on softmax(logits / T); ``--teacher PATH`` replaces
the training labels with that model's softmax(logits / T) (distillation).
``--devices N|all`` trains data-parallel on N GPUs (or logical CPUs) under
`tf.distribute.MirroredStrategy` (`models.devices`): each batch of the
recipe's size is split across them; the default, 1, is the single-device run.
``--optimizer adam --learning-rate 0.001`` is what distillation at T = 100
needs (see models/distill.py). ``--extra-train FILE.npz`` appends the arrays
"x" and "y" of that file to the training set (adversarial training).
"""
import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from models.cli import (ArgumentParser, positive_float,
                        positive_int, run_main)
from models.checks import check_images, check_labels
from models.cw_mnist import build_cw_mnist
from models.data import DATASETS, NUM_CLASSES, file_sha256, load_dataset
from models.devices import devices_type, mirrored_strategy, select_devices
from models.records import package_versions, write_json
from models.distill import TemperatureCrossEntropy, soft_labels
from models.pretrained import load_model_file
from models.resnet import build_resnet
from models.store import ConfigMismatch, check_config


@dataclasses.dataclass
class Recipe:
    """Everything that defines a training run of one dataset's network."""

    architecture: str
    epochs: int
    batch_size: int = 128
    learning_rate: float = 0.01   # constant rate, or the peak of the one-cycle schedule
    momentum: float = 0.9
    one_cycle: bool = False       # linear warm-up then linear decay to 0
    warmup_epochs: int = 0
    augment: bool = False         # random crops of the 4-pixel padded image, horizontal flips
    optimizer: str = "sgd"        # "sgd" (Nesterov momentum) or "adam" (momentum unused)
    label_smoothing: float = 0.0  # targets (1 - s) * one_hot + s / classes
    weight_decay: float = 1e-4    # L2 on the ResNet's kernels (unused by cw_mnist)
    precision: str = "float32"    # or "mixed_bfloat16" (float32 weights, bf16 arithmetic)


RECIPES = {
    "mnist": Recipe(architecture="cw_mnist", epochs=50),
    "cifar10": Recipe(architecture="resnet20", epochs=40, learning_rate=0.1,
                      one_cycle=True, warmup_epochs=2, augment=True, label_smoothing=0.1,
                      weight_decay=5e-4, precision="mixed_bfloat16"),
}
PRECISIONS = ("float32", "mixed_bfloat16")


class ResumeMismatch(ConfigMismatch):
    """A checkpoint was written by a run with other settings than the requested one."""


@contextlib.contextmanager
def _dtype_policy(name):
    """Build layers under Keras dtype policy ``name``, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(architecture, weight_decay=1e-4, precision="float32"):
    """A fresh network by name: "cw_mnist" or "resnet<6n+2>" (e.g. "resnet20")."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    with _dtype_policy(precision):
        if architecture == "cw_mnist":
            return build_cw_mnist()
        if architecture.startswith("resnet") and architecture[6:].isdigit():
            return build_resnet(int(architecture[6:]), weight_decay=weight_decay)
    raise ValueError(f"unknown architecture {architecture!r}; expected 'cw_mnist' or 'resnet<depth>'")


def learning_rate_at(recipe, epoch):
    """Learning rate of a (0-based) epoch."""
    if not recipe.one_cycle:
        return recipe.learning_rate
    if epoch < recipe.warmup_epochs:
        return recipe.learning_rate * (epoch + 1) / recipe.warmup_epochs
    remaining = recipe.epochs - recipe.warmup_epochs
    return recipe.learning_rate * (recipe.epochs - epoch) / max(remaining, 1)


def _crop_flip(image, seed):
    """A random horizontal flip and a random crop of the 4-pixel zero-padded image."""
    image = tf.image.stateless_random_flip_left_right(image, seed=seed)
    padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
    return tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed[::-1])


def region_sample(image, radius, seed):
    """One uniform point of the box B(image, radius) clipped to [0, 1].

    Each pixel is uniform on [max(0, x - r), min(1, x + r)], the law of the
    region-based classifier's sampled points (`rc_keras.sampling`, not
    imported: models/ sits below rc_keras). ``seed``: int64 (2,) stateless seed.
    """
    lower = tf.maximum(image - radius, 0.0)
    width = tf.minimum(image + radius, 1.0) - lower
    return lower + tf.random.stateless_uniform(tf.shape(image), seed) * width


def epoch_dataset(x, targets, recipe, seed, epoch, region_radius=0.0):
    """The training batches of one epoch, a pure function of (seed, epoch).

    The order is a seeded permutation of the images; each image's
    augmentation is seeded by (seed, epoch, its index), so a resumed run sees
    exactly the batches an uninterrupted one would. ``region_radius`` R > 0
    replaces each (augmented) image by one `region_sample` of B(x, R), seeded
    the same way.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(x))
    ds = tf.data.Dataset.from_tensor_slices((x[order], targets[order], order.astype(np.int64)))
    epoch_key = tf.constant(seed * 100_000 + epoch, tf.int64)
    if recipe.augment:
        ds = ds.map(lambda a, b, i: (_crop_flip(a, tf.stack([epoch_key, i])), b, i),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if region_radius:
        def sample(image, target, index):
            key = tf.random.experimental.stateless_fold_in(tf.stack([epoch_key, index]), 1)
            return region_sample(image, region_radius, key), target
        ds = ds.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda a, b, i: (a, b))
    return ds.batch(recipe.batch_size).prefetch(tf.data.AUTOTUNE)


def accuracy(model, x, y, batch_size=1000):
    """Top-1 accuracy (fraction) of a logits model on integer labels."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def make_optimizer(recipe):
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(recipe.learning_rate, momentum=recipe.momentum, nesterov=True)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(recipe.learning_rate)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; expected 'sgd' or 'adam'")


def load_extra_train(path, image_shape):
    """(x, y) of an ``--extra-train`` file: "x" (N, H, W, C) float32 in [0, 1], "y" (N,) ints."""
    with np.load(path) as data:
        if "x" not in data or "y" not in data:
            raise ValueError(f"{path}: expected arrays 'x' and 'y', found {sorted(data.files)}")
        x, y = check_images(data["x"], "x", expected_shape=image_shape), data["y"]
    return x, check_labels(y, len(x), NUM_CLASSES, "y")


def float32_copy(model, recipe):
    """The trained network rebuilt in float32 with the same weights (what is shipped)."""
    if recipe.precision == "float32":
        return model
    copy = build_model(recipe.architecture, recipe.weight_decay, "float32")
    copy.set_weights(model.get_weights())
    return copy


def _file_digest(path):
    return None if path is None else {"path": path, "sha256": file_sha256(path)}


def _check_resume(state, config, checkpoint_dir):
    """Refuse to resume a checkpoint whose run had another configuration."""
    if state.get("config") is None:
        raise ResumeMismatch(f"{checkpoint_dir} records no configuration; pass --restart to "
                             "discard it")
    try:
        check_config(f"{checkpoint_dir} was written by a run with other settings",
                     state["config"], config,
                     advice="re-run with the same flags to resume it, or pass --restart to "
                     "discard it")
    except ConfigMismatch as error:
        raise ResumeMismatch(str(error)) from None


def _reseed_layers(model, seed, epoch):
    """Set every random layer's (e.g. dropout's) seed state from (seed, epoch, layer).

    Keras draws these states from the global RNG when the layer is built, so a
    resumed run would continue from other states; fixing them per epoch makes
    each epoch's dropout masks a pure function of (seed, epoch).
    """
    states = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    for k, state in enumerate(states):
        key = np.random.default_rng([seed, epoch, k]).integers(0, 2**31 - 1)
        state.assign(np.array([key, 0], dtype=state.dtype))


def _save_checkpoint(model, checkpoint_dir, state):
    """Model + optimizer (+ dropout seed state), then the state JSON, each atomically."""
    model_path = os.path.join(checkpoint_dir, "last.keras")
    model.save(model_path + ".tmp.keras")
    os.replace(model_path + ".tmp.keras", model_path)
    write_json(os.path.join(checkpoint_dir, "state.json"), state)


def train(dataset="mnist", out=None, epochs=None, seed=0, temperature=1.0, teacher=None,
          data_dir=None, checkpoint_dir=None, train_limit=None, verbose="auto",
          command=None, optimizer=None, learning_rate=None, extra_train=None,
          precision=None, restart=False, max_epochs_this_run=None, region_radius=None,
          devices=1):
    """Train (or resume training) one model and write ``out`` and its JSON record.

    Args:
        dataset: "mnist" or "cifar10"; picks the `RECIPES` entry.
        out: path of the ``.keras`` file to write (default ``<dataset>.keras``).
        epochs: override the recipe's epoch count.
        seed: seeds Python, NumPy, TensorFlow and the data shuffling.
        temperature: softmax temperature of the training loss.
        teacher: path of a ``.keras`` teacher; its softmax(logits / T) on the
            training images become the targets (defensive distillation).
        checkpoint_dir: where per-epoch checkpoints live (default
            ``<out>.ckpt/``); an existing checkpoint of the same configuration
            is resumed, one of another configuration refused.
        train_limit: train on the first N training images only (quick tests).
        optimizer, learning_rate, precision: override the recipe's.
        extra_train: ``.npz`` with "x" and "y" appended to the training set
            (e.g. one DeepFool example per training image).
        restart: discard an existing checkpoint instead of resuming it.
        max_epochs_this_run: stop (resumably) after this many epochs of this
            run, e.g. to train in slices of a CPU budget.
        region_radius: R in (0, 1]: train on one uniform sample of each
            image's clipped box B(x, R) per step (`region_sample`), the
            region-trained base model of certified RC; None: the images.
        devices: 1 (default), N or "all" (`models.devices`): more than one
            builds, loads, compiles and fits the model inside a
            `tf.distribute.MirroredStrategy` scope (the global batch is the
            recipe's). Not part of the checkpoint's configuration: a run may
            resume on another number of devices.

    Returns:
        The JSON record (dict), or None when the run stopped before the last
        epoch (``max_epochs_this_run``).

    Raises:
        ValueError: a bad argument, or `ResumeMismatch`.
    """
    if dataset not in RECIPES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    for name, value in (("epochs", epochs), ("train_limit", train_limit),
                        ("max_epochs_this_run", max_epochs_this_run)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if region_radius is not None and not 0 < region_radius <= 1:
        raise ValueError(f"region_radius must lie in (0, 1], got {region_radius!r}")
    if learning_rate is not None and not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    for path, flag in ((teacher, "teacher"), (extra_train, "extra_train")):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{flag} {path}: file not found")
    overrides = {"epochs": epochs, "optimizer": optimizer, "learning_rate": learning_rate,
                 "precision": precision}
    recipe = dataclasses.replace(RECIPES[dataset],
                                 **{k: v for k, v in overrides.items() if v is not None})
    make_optimizer(recipe)  # validates the optimizer name
    if recipe.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {recipe.precision!r}; expected one of {PRECISIONS}")
    out = out or f"{dataset}.keras"
    if not out.endswith(".keras"):
        raise ValueError(f"out must end with .keras, got {out!r}")
    checkpoint_dir = checkpoint_dir or out[:-len(".keras")] + ".ckpt"
    device_names = select_devices(devices)
    strategy = mirrored_strategy(devices)

    data = load_dataset(dataset, data_dir=data_dir)
    x_train, y_train = data.x_train[:train_limit], data.y_train[:train_limit]
    if extra_train:
        x_extra, y_extra = load_extra_train(extra_train, x_train.shape[1:])
        x_train, y_train = np.concatenate([x_train, x_extra]), np.concatenate([y_train, y_extra])
    config = {"dataset": dataset, "data_sha256": data.sha256, "recipe": dataclasses.asdict(recipe),
              "seed": seed, "temperature": temperature, "teacher": _file_digest(teacher),
              "extra_train": _file_digest(extra_train), "train_images": len(x_train)}
    # Absent when unset, so that checkpoints written before these options stay resumable.
    for name, value in (("train_limit", train_limit), ("region_radius", region_radius)):
        if value is not None:
            config[name] = value

    state_path = os.path.join(checkpoint_dir, "state.json")
    if restart and os.path.isdir(checkpoint_dir):
        for name in ("state.json", "last.keras"):
            if os.path.exists(os.path.join(checkpoint_dir, name)):
                os.remove(os.path.join(checkpoint_dir, name))
    state = {"config": config, "epochs_done": 0, "history": []}
    if os.path.exists(state_path):
        with open(state_path) as f:
            saved = json.load(f)
        _check_resume(saved, config, checkpoint_dir)
        state = saved
    os.makedirs(checkpoint_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)

    targets = keras.utils.to_categorical(y_train, NUM_CLASSES).astype(np.float32)
    if teacher:
        targets = soft_labels(load_model_file(teacher), x_train, temperature)
    elif recipe.label_smoothing:
        targets = targets * (1 - recipe.label_smoothing) + recipe.label_smoothing / NUM_CLASSES
    val_targets = keras.utils.to_categorical(data.y_val, NUM_CLASSES).astype(np.float32)

    with strategy.scope() if strategy else contextlib.nullcontext():
        if state["epochs_done"]:
            model = keras.models.load_model(os.path.join(checkpoint_dir, "last.keras"))
            print(f"resuming from {checkpoint_dir} after epoch {state['epochs_done']}/"
                  f"{recipe.epochs}", flush=True)
        else:
            model = build_model(recipe.architecture, recipe.weight_decay, recipe.precision)
            model.compile(
                optimizer=make_optimizer(recipe),
                loss=TemperatureCrossEntropy(temperature),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])

    verbose = (2 if not sys.stdout.isatty() else 1) if verbose == "auto" else verbose
    first = state["epochs_done"]
    last = recipe.epochs if max_epochs_this_run is None else min(recipe.epochs,
                                                                 first + max_epochs_this_run)
    for epoch in range(first, last):
        started = time.time()
        model.optimizer.learning_rate.assign(learning_rate_at(recipe, epoch))
        _reseed_layers(model, seed, epoch)
        history = model.fit(epoch_dataset(x_train, targets, recipe, seed, epoch,
                                          region_radius or 0.0),
                            validation_data=(data.x_val, val_targets), batch_size=1000,
                            epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                            verbose=verbose)
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        state["history"].append({"epoch": epoch + 1, "seconds": round(time.time() - started, 1),
                                 "learning_rate": learning_rate_at(recipe, epoch), **logs})
        state["epochs_done"] = epoch + 1
        _save_checkpoint(model, checkpoint_dir, state)
    if state["epochs_done"] < recipe.epochs:
        print(f"stopped after epoch {state['epochs_done']}/{recipe.epochs}; "
              f"re-run the same command to continue", flush=True)
        return None

    shipped = float32_copy(model, recipe)
    shipped.save(out)
    record = {
        "command": command or "python -m models.train " + shlex.join(sys.argv[1:]),
        "dataset": data.record(), "recipe": dataclasses.asdict(recipe),
        "seed": seed, "temperature": temperature, "teacher": teacher,
        "extra_train": extra_train, "region_radius": region_radius,
        "train_images": len(x_train), "epochs": recipe.epochs,
        "validation_accuracy": accuracy(shipped, data.x_val, data.y_val),
        "test_accuracy": accuracy(shipped, data.x_test, data.y_test),
        "test_set": data.test_note,
        "train_seconds": round(sum(h["seconds"] for h in state["history"]), 1),
        "epochs_this_run": last - first,
        "history": state["history"],
        "packages": package_versions(), "parameters": shipped.count_params(),
        "devices": device_names,
    }
    write_json(out[:-len(".keras")] + ".json", record)
    print(f"{out}: validation accuracy {record['validation_accuracy']:.4f}, "
          f"test accuracy {record['test_accuracy']:.4f} on {data.test_note}", flush=True)
    return record


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--out", help="output .keras path (default <dataset>.keras)")
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's epoch count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=positive_float, default=1.0)
    parser.add_argument("--teacher", help="teacher .keras for distillation soft labels")
    parser.add_argument("--data-dir", help="folder with mnist.npz / cifar10.npz (default $RC_DATA_DIR)")
    parser.add_argument("--checkpoint-dir", help="default <out without .keras>.ckpt")
    parser.add_argument("--train-limit", type=positive_int,
                        help="use only the first N training images")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), help="override the recipe's")
    parser.add_argument("--learning-rate", type=positive_float, help="override the recipe's")
    parser.add_argument("--precision", choices=PRECISIONS, help="override the recipe's")
    parser.add_argument("--extra-train", help=".npz with x, y appended to the training set")
    parser.add_argument("--restart", action="store_true",
                        help="discard an existing checkpoint instead of resuming it")
    parser.add_argument("--region-radius", type=positive_float,
                        help="train on one uniform sample of each image's box B(x, R) per step")
    parser.add_argument("--max-epochs-this-run", type=positive_int,
                        help="stop (resumably) after this many epochs of this run")
    parser.add_argument("--devices", type=devices_type, default=1,
                        help="N or 'all': train on N GPUs (or logical CPUs) with "
                             "tf.distribute.MirroredStrategy (default 1)")
    args = parser.parse_args(argv)
    train(dataset=args.dataset, out=args.out, epochs=args.epochs, seed=args.seed,
          temperature=args.temperature, teacher=args.teacher, data_dir=args.data_dir,
          checkpoint_dir=args.checkpoint_dir, train_limit=args.train_limit,
          optimizer=args.optimizer, learning_rate=args.learning_rate,
          extra_train=args.extra_train, precision=args.precision, restart=args.restart,
          max_epochs_this_run=args.max_epochs_this_run, region_radius=args.region_radius,
          devices=args.devices)


if __name__ == "__main__":
    run_main(main)
