"""Training CLI: ``python -m models.train --dataset mnist|cifar10 [...]``.

Trains the dataset's network with the recipe below, saves a checkpoint every
epoch, resumes automatically from the last checkpoint after an interruption,
and writes ``<out>.keras`` with a JSON record ``<out>.json`` beside it
(command, seed, epochs, validation and test accuracy, package versions, data
sha256, training time).

Recipes (`RECIPES`):
  mnist    the CW MNIST net; SGD lr 0.01, momentum 0.9, Nesterov, batch 128,
           50 epochs (the paper's / Carlini-Wagner's recipe).
  cifar10  ResNet-20; SGD momentum 0.9 Nesterov, batch 128, a one-cycle
           learning rate (linear warm-up to 0.1 over 2 epochs, then linear
           decay to 0) over 30 epochs, random shifts of 10% and horizontal
           flips. A shorter schedule than the Keras example's 200 epochs of
           Adam, chosen to fit a CPU budget.
``--temperature T`` trains on softmax(logits / T); ``--teacher PATH`` replaces
the training labels with that model's softmax(logits / T) (distillation).
``--optimizer adam --learning-rate 0.001`` is what distillation at T = 100
needs (see models/distill.py). ``--extra-train FILE.npz`` appends the arrays
"x" and "y" of that file to the training set (adversarial training).
"""
import argparse
import dataclasses
import json
import os
import shlex
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from models.checks import check_images, check_labels
from models.cw_mnist import build_cw_mnist
from models.data import DATASETS, NUM_CLASSES, load_dataset
from models.records import package_versions, write_json
from models.distill import TemperatureCrossEntropy, soft_labels
from models.resnet import build_resnet


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
    augment: bool = False         # random 10% shifts and horizontal flips
    optimizer: str = "sgd"        # "sgd" (Nesterov momentum) or "adam" (momentum unused)


RECIPES = {
    "mnist": Recipe(architecture="cw_mnist", epochs=50),
    "cifar10": Recipe(architecture="resnet20", epochs=30, learning_rate=0.1,
                      one_cycle=True, warmup_epochs=2, augment=True),
}


def build_model(architecture):
    """A fresh network by name: "cw_mnist" or "resnet<6n+2>" (e.g. "resnet20")."""
    if architecture == "cw_mnist":
        return build_cw_mnist()
    if architecture.startswith("resnet") and architecture[6:].isdigit():
        return build_resnet(int(architecture[6:]))
    raise ValueError(f"unknown architecture {architecture!r}; expected 'cw_mnist' or 'resnet<depth>'")


def learning_rate_at(recipe, epoch):
    """Learning rate of a (0-based) epoch."""
    if not recipe.one_cycle:
        return recipe.learning_rate
    if epoch < recipe.warmup_epochs:
        return recipe.learning_rate * (epoch + 1) / recipe.warmup_epochs
    remaining = recipe.epochs - recipe.warmup_epochs
    return recipe.learning_rate * (recipe.epochs - epoch) / max(remaining, 1)


def _augmenter(seed):
    """Random horizontal flips and shifts of up to 10% (zero fill)."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed)])


def _train_dataset(x, y, recipe, seed):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    ds = ds.batch(recipe.batch_size)
    if recipe.augment:
        augment = _augmenter(seed)
        ds = ds.map(lambda a, b: (augment(a, training=True), b),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer after every epoch, then the epoch count (atomically)."""

    def __init__(self, directory):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        model_path = os.path.join(self.directory, "last.keras")
        self.model.save(model_path + ".tmp.keras")
        os.replace(model_path + ".tmp.keras", model_path)
        state = {"epochs_done": epoch + 1,
                 "logs": {k: float(v) for k, v in (logs or {}).items()}}
        write_json(os.path.join(self.directory, "state.json"), state)


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


def train(dataset="mnist", out=None, epochs=None, seed=0, temperature=1.0, teacher=None,
          data_dir=None, checkpoint_dir=None, train_limit=None, verbose="auto",
          command=None, optimizer=None, learning_rate=None, extra_train=None):
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
            ``<out>.ckpt/``); an existing checkpoint is resumed.
        train_limit: train on the first N training images only (quick tests).
        optimizer, learning_rate: override the recipe's ("sgd" or "adam").
        extra_train: ``.npz`` with "x" and "y" appended to the training set
            (e.g. one DeepFool example per training image).

    Returns:
        The JSON record (dict).
    """
    if dataset not in RECIPES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    overrides = {"epochs": epochs, "optimizer": optimizer, "learning_rate": learning_rate}
    recipe = dataclasses.replace(RECIPES[dataset],
                                 **{k: v for k, v in overrides.items() if v is not None})
    out = out or f"{dataset}.keras"
    if not out.endswith(".keras"):
        raise ValueError(f"out must end with .keras, got {out!r}")
    checkpoint_dir = checkpoint_dir or out[:-len(".keras")] + ".ckpt"
    os.makedirs(checkpoint_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)

    data = load_dataset(dataset, data_dir=data_dir)
    x_train, y_train = data.x_train[:train_limit], data.y_train[:train_limit]
    if extra_train:
        x_extra, y_extra = load_extra_train(extra_train, x_train.shape[1:])
        x_train, y_train = np.concatenate([x_train, x_extra]), np.concatenate([y_train, y_extra])
    targets = keras.utils.to_categorical(y_train, NUM_CLASSES).astype(np.float32)
    if teacher:
        targets = soft_labels(keras.models.load_model(teacher, compile=False), x_train, temperature)
    val_targets = keras.utils.to_categorical(data.y_val, NUM_CLASSES).astype(np.float32)

    state_path = os.path.join(checkpoint_dir, "state.json")
    epochs_done = 0
    if os.path.exists(state_path):
        with open(state_path) as f:
            epochs_done = json.load(f)["epochs_done"]
        model = keras.models.load_model(os.path.join(checkpoint_dir, "last.keras"))
        print(f"resuming from {checkpoint_dir} after epoch {epochs_done}/{recipe.epochs}")
    else:
        model = build_model(recipe.architecture)
        model.compile(
            optimizer=make_optimizer(recipe),
            loss=TemperatureCrossEntropy(temperature),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])

    started = time.time()
    if epochs_done < recipe.epochs:
        model.fit(_train_dataset(x_train, targets, recipe, seed),
                  validation_data=(data.x_val, val_targets),
                  epochs=recipe.epochs, initial_epoch=epochs_done, shuffle=False,
                  callbacks=[keras.callbacks.LearningRateScheduler(
                                 lambda e, lr: learning_rate_at(recipe, e)),
                             _EpochCheckpoint(checkpoint_dir)],
                  verbose=(2 if not sys.stdout.isatty() else 1) if verbose == "auto" else verbose)
    train_seconds = time.time() - started

    model.save(out)
    record = {
        "command": command or "python -m models.train " + shlex.join(sys.argv[1:]),
        "dataset": data.record(), "recipe": dataclasses.asdict(recipe),
        "seed": seed, "temperature": temperature, "teacher": teacher,
        "extra_train": extra_train,
        "train_images": len(x_train), "epochs": recipe.epochs,
        "validation_accuracy": accuracy(model, data.x_val, data.y_val),
        "test_accuracy": accuracy(model, data.x_test, data.y_test),
        "test_set": data.test_note,
        "train_seconds_this_run": round(train_seconds, 1),
        "epochs_this_run": recipe.epochs - epochs_done,
        "packages": package_versions(), "parameters": model.count_params(),
    }
    write_json(out[:-len(".keras")] + ".json", record)
    print(f"{out}: validation accuracy {record['validation_accuracy']:.4f}, "
          f"test accuracy {record['test_accuracy']:.4f} on {data.test_note}")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--out", help="output .keras path (default <dataset>.keras)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--teacher", help="teacher .keras for distillation soft labels")
    parser.add_argument("--data-dir", help="folder with mnist.npz / cifar10.npz (default $RC_DATA_DIR)")
    parser.add_argument("--checkpoint-dir", help="default <out without .keras>.ckpt")
    parser.add_argument("--train-limit", type=int, help="use only the first N training images")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), help="override the recipe's")
    parser.add_argument("--learning-rate", type=float, help="override the recipe's")
    parser.add_argument("--extra-train", help=".npz with x, y appended to the training set")
    args = parser.parse_args(argv)
    train(dataset=args.dataset, out=args.out, epochs=args.epochs, seed=args.seed,
          temperature=args.temperature, teacher=args.teacher, data_dir=args.data_dir,
          checkpoint_dir=args.checkpoint_dir, train_limit=args.train_limit,
          optimizer=args.optimizer, learning_rate=args.learning_rate,
          extra_train=args.extra_train)


if __name__ == "__main__":
    main()
