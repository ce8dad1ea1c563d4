"""Toy point classifiers with known class regions, shared by the RC tests (a helper, no tests)."""
import keras
import numpy as np


def mean_threshold_model(image_shape, threshold):
    """Logits model on images of ``image_shape``: class 1 iff mean(pixels) > threshold.

    On a 1-pixel image the class-1 region of a box [lo, hi] has area
    max(0, hi - max(lo, threshold)) / (hi - lo).
    """
    dim = int(np.prod(image_shape))
    model = keras.Sequential([keras.Input(image_shape), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    kernel = np.zeros((dim, 2), np.float32)
    kernel[:, 1] = 1.0 / dim
    model.layers[-1].set_weights([kernel, np.array([threshold, 0.0], np.float32)])
    return model


def constant_model(image_shape, label, num_classes=10):
    """A logits model that predicts ``label`` for every input."""
    model = keras.Sequential([keras.Input(image_shape), keras.layers.Flatten(),
                              keras.layers.Dense(num_classes)])
    bias = np.zeros(num_classes, np.float32)
    bias[label] = 1.0
    model.layers[-1].set_weights([np.zeros((int(np.prod(image_shape)), num_classes),
                                           np.float32), bias])
    return model


def mean_threshold_problem():
    """64-pixel images, class 1 iff the mean pixel > 0.225; a flat 0.2 image (class 0)
    and a flat 0.8 image (class 1). The 0.2 image's box is [0, 0.2 + r] once r > 0.2,
    whose mean (0.2 + r) / 2 crosses 0.225 at r = 0.25: RC gets it right for r <= 0.2
    and wrong for r >= 0.3 (the sample mean of 64 pixels is within 0.02 of the box mean)."""
    model = mean_threshold_model((8, 8, 1), 0.225)
    x = np.stack([np.full((8, 8, 1), 0.2), np.full((8, 8, 1), 0.8)]).astype(np.float32)
    return model, x, np.array([0, 1])
