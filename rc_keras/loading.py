"""Load a point classifier from a model file: `.keras`, legacy `.h5`, or a SavedModel."""
import os

import keras
import tensorflow as tf

from models.pretrained import CorruptModelError, load_model_file


def _saved_model_classifier(path):
    """A Keras model around a SavedModel's "serve" (else "serving_default") endpoint."""
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # a truncated or corrupt saved_model.pb or variables/
        raise CorruptModelError(path, e, "SavedModel") from e
    endpoints = [name for name in ("serve", "serving_default")
                 if name in loaded.signatures or callable(getattr(loaded, name, None))]
    if not endpoints:
        raise ValueError(f"{path}: the SavedModel has neither a 'serve' nor a "
                         f"'serving_default' endpoint (found {sorted(loaded.signatures)})")
    endpoint = endpoints[0]
    function = (loaded.signatures[endpoint] if endpoint in loaded.signatures
                else getattr(loaded, endpoint).concrete_functions[0])
    specs = tf.nest.flatten(function.structured_input_signature)
    if len(specs) != 1 or specs[0].shape.rank != 4:
        raise ValueError(f"{path}: endpoint {endpoint!r} must take one (N, H, W, C) image "
                         f"tensor, takes {function.structured_input_signature}")
    inputs = keras.Input(specs[0].shape[1:], name="image")
    outputs = keras.layers.TFSMLayer(path, call_endpoint=endpoint)(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ValueError(f"{path}: endpoint {endpoint!r} returns {sorted(outputs)}, "
                             f"expected a single logits or probabilities tensor")
        (outputs,) = outputs.values()
    return keras.Model(inputs, outputs, name=os.path.basename(os.path.normpath(path)))


def load_base_model(path):
    """A Keras classifier read from ``path``, for use as the point classifier of RC.

    Args:
        path: a Keras 3 ``.keras`` file, a legacy Keras 2 HDF5 file (``.h5`` or
            ``.hdf5``), or a TensorFlow SavedModel directory (from
            ``model.export`` or ``tf.saved_model.save``; its "serve" or
            "serving_default" endpoint must take one (N, H, W, C) float tensor
            and return (N, classes) logits or probabilities).

    Returns:
        A ``keras.Model`` (not compiled) mapping images (N, H, W, C) to
        (N, classes) scores.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptModelError (a ValueError): the file or SavedModel is there
            but cannot be read; the message names it.
        ValueError: an unsupported file type or SavedModel signature.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file or directory")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path}: a directory without saved_model.pb is not a SavedModel")
        return _saved_model_classifier(path)
    if path.endswith((".keras", ".h5", ".hdf5")):
        return load_model_file(path)
    raise ValueError(f"{path}: unsupported model file; expected .keras, .h5/.hdf5 "
                     f"or a SavedModel directory")
