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
