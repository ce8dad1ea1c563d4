"""The networks this project ships, trained by its own training CLI.

Each name maps to ``models/weights/<name>.keras`` with a JSON record beside
it (command, seed, epochs, measured accuracy, package versions, data sha256).
"<dataset>-distilled" and "<dataset>-advtrained" are the paper's baseline
defences (defensive distillation at T = 100, adversarial training with
DeepFool), made by ``python -m experiments.baselines``.
"""
import json
import os

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")

# name -> dataset the network was trained on
PRETRAINED = {
    "mnist": "mnist",
    "cifar10": "cifar10",
    "mnist-distilled": "mnist",
    "mnist-advtrained": "mnist",
    "cifar10-distilled": "cifar10",
    "cifar10-advtrained": "cifar10",
}


def _path(name):
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}")
    return os.path.join(WEIGHTS_DIR, f"{name}.keras")


def load_pretrained(name):
    """The shipped Keras model ``name`` (e.g. "mnist", "cifar10"); it outputs logits.

    Input: float32 images (N, H, W, C) in [0, 1].
    """
    import keras
    path = _path(name)
    if not os.path.exists(path):
        how = (f"python -m models.train --dataset {name} --out models/weights/{name}.keras"
               if name == PRETRAINED[name] else
               f"python -m experiments.baselines --dataset {PRETRAINED[name]} "
               f"--defence {name.split('-', 1)[1]}")
        raise FileNotFoundError(f"{path}: the weights of {name!r} are not in this checkout; "
                                f"produce them with `{how}`")
    return keras.models.load_model(path, compile=False)


def pretrained_record(name):
    """The training record (dict) shipped beside ``name``'s weights."""
    with open(_path(name)[:-len(".keras")] + ".json") as f:
        return json.load(f)
