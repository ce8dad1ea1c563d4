"""The MNIST network of Carlini & Wagner (2017), as a Keras model.

Input (N, 28, 28, 1) float32 in [0, 1]; output (N, 10) logits.
312,202 trainable parameters.
"""
import keras
from keras import layers


def build_cw_mnist(name="cw_mnist"):
    """Conv32-Conv32-Pool-Conv64-Conv64-Pool-FC200-Dropout0.5-FC200-FC10 ('valid' padding)."""
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.Conv2D(32, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(64, 3, activation="relu", name="conv3"),
        layers.Conv2D(64, 3, activation="relu", name="conv4"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(200, activation="relu", name="fc1"),
        layers.Dropout(0.5, name="dropout"),
        layers.Dense(200, activation="relu", name="fc2"),
        layers.Dense(10, name="logits"),
    ], name=name)
