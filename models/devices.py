"""Which devices a computation runs on: ``--devices N|all`` and `tf.distribute.MirroredStrategy`.

The devices of a run are TensorFlow's logical devices of one kind: the GPUs
when any is visible, else the CPUs (one, unless the process split it with
``tf.config.set_logical_device_configuration`` before TensorFlow started).
``devices`` is 1 (the default: TensorFlow's own placement, today's
behaviour), an int N >= 1 (the first N of them) or "all".
"""
import argparse
import numbers

import tensorflow as tf


def visible_devices():
    """Names of the logical devices a run may use: the GPUs if any, else the CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def select_devices(devices=1):
    """The device names of ``devices`` (1, an int N >= 1 or "all"), in TensorFlow's order.

    Raises:
        ValueError: ``devices`` is neither, or asks for more than are visible.
    """
    visible = visible_devices()
    if devices == "all":
        return visible
    if isinstance(devices, bool) or not isinstance(devices, numbers.Integral) or devices < 1:
        raise ValueError(f"devices must be an integer >= 1 or 'all', got {devices!r}")
    if devices > len(visible):
        raise ValueError(f"devices={devices}, but only {len(visible)} visible: {visible}")
    return visible[:int(devices)]


def mirrored_strategy(devices=1):
    """A `tf.distribute.MirroredStrategy` over `select_devices` (devices), or None for one device.

    Build, compile, load and fit a Keras model inside ``strategy.scope()``:
    each batch is split across the devices (the global batch is unchanged)
    and the gradients are summed over them.
    """
    names = select_devices(devices)
    return tf.distribute.MirroredStrategy(names) if len(names) > 1 else None


def devices_type(text):
    """An argparse type: "all" or an integer N >= 1 (checked against the devices later)."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'all', got {text!r}")
    return value
