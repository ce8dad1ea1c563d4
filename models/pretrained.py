"""The networks this project ships, trained by its own training CLI.

Each name maps to ``models/weights/<name>.keras`` with a JSON record beside
it (command, seed, epochs, measured accuracy, package versions, data sha256).
"<dataset>-distilled" and "<dataset>-advtrained" are the paper's baseline
defences (defensive distillation at T = 100, adversarial training with
DeepFool), made by ``python -m experiments.baselines``.

A weights file that is absent raises `FileNotFoundError` (callers may skip
that network); one that is present but unreadable raises
`CorruptModelError`, naming the file (callers must not skip it silently).
"""
import json
import os
import zipfile

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")

# name -> dataset the network was trained on
PRETRAINED = {
    "mnist": "mnist",
    "cifar10": "cifar10",
    "mnist-distilled": "mnist",
    "mnist-advtrained": "mnist",
    "mnist-region": "mnist",   # python -m models.train --region-radius 0.5 (certified RC)
    "cifar10-distilled": "cifar10",
    "cifar10-advtrained": "cifar10",
}


class CorruptModelError(ValueError):
    """A model file exists but cannot be read as a model (empty, truncated, corrupt).

    ``CorruptModelError(path, error, kind)``: the message names ``path``, its
    size, and the first line of the reader's ``error``.
    """

    def __init__(self, path, error, kind="model file"):
        reason = str(error).splitlines()[0] if str(error) else "no detail"
        size = os.path.getsize(path) if os.path.isfile(path) else None
        super().__init__(f"{path}: the {kind} is corrupt or unreadable ("
                         + (f"{size:,} bytes; " if size is not None else "")
                         + f"{type(error).__name__}: {reason})")
        self.path = path


def load_model_file(path):
    """The (uncompiled) Keras model in the ``.keras`` / ``.h5`` file ``path``.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptModelError: the file is there but Keras cannot read it; the
            message names the file and gives Keras' reason.
    """
    import keras
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such model file")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):  # Keras says "File not found"
        raise CorruptModelError(path, zipfile.BadZipFile("not a zip archive, as a .keras file is"))
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # zipfile, h5py, KeyError, Keras' "File not found" on a bad zip
        raise CorruptModelError(path, e) from e


def _path(name):
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}")
    return os.path.join(WEIGHTS_DIR, f"{name}.keras")


def load_pretrained(name):
    """The shipped Keras model ``name`` (e.g. "mnist", "cifar10"); it outputs logits.

    Input: float32 images (N, H, W, C) in [0, 1].

    Raises:
        ValueError: unknown ``name``.
        FileNotFoundError: its weights are not in this checkout (the message
            says how to produce them).
        CorruptModelError: its weights file is there but unreadable.
    """
    path = _path(name)
    if not os.path.exists(path):
        how = (f"python -m models.train --dataset {name} --out models/weights/{name}.keras"
               if name == PRETRAINED[name] else
               f"python -m experiments.baselines --dataset {PRETRAINED[name]} "
               f"--defence {name.split('-', 1)[1]}")
        raise FileNotFoundError(f"{path}: the weights of {name!r} are not in this checkout; "
                                f"produce them with `{how}`")
    return load_model_file(path)


def pretrained_record(name):
    """The training record (dict) shipped beside ``name``'s weights."""
    with open(_path(name)[:-len(".keras")] + ".json") as f:
        return json.load(f)
