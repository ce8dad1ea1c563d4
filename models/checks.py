"""Input validation shared by every public entry point.

Each check raises ``ValueError`` (or ``TypeError`` for a dtype) with a message
that names the argument and the problem, instead of letting a bad input
produce a silent wrong answer or a deep traceback.
"""
import numpy as np

RANGE_TOLERANCE = 1e-6


def check_images(x, name="x", expected_shape=None, tolerance=RANGE_TOLERANCE):
    """Check a batch of images and return it as a float32 ndarray.

    Args:
        x: array-like (N, H, W, C) of floats in [0, 1].
        name: the argument's name, for messages.
        expected_shape: the per-image shape (H, W, C) the model takes; None
            entries match anything.
        tolerance: how far outside [0, 1] a value may lie (rounding).

    Raises:
        TypeError: integer, boolean or non-numeric dtype.
        ValueError: wrong rank or shape, NaN/Inf, or values outside [0, 1].
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array with values in [0, 1], got dtype {x.dtype}"
                        + (" (divide uint8 images by 255)" if x.dtype == np.uint8 else ""))
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W, C), got shape {x.shape}")
    if expected_shape is not None:
        expected = tuple(expected_shape)
        if len(expected) != 3 or any(e is not None and e != s for e, s in zip(expected, x.shape[1:])):
            raise ValueError(f"{name} has images of shape {x.shape[1:]}, "
                             f"but the model takes {expected}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf values")
    if x.size and (x.min() < -tolerance or x.max() > 1 + tolerance):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]")
    return x.astype(np.float32, copy=False)


def check_labels(labels, num_examples, num_classes, name="labels"):
    """Check integer class labels (N,) in [0, num_classes) and return them as int64."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != num_examples:
        raise ValueError(f"{name} must have shape ({num_examples},), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), "
                         f"got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


def model_input_shape(model):
    """The per-image input shape (H, W, C) of a Keras model (None where unknown)."""
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else model.input_shape
    return tuple(shape[1:])
