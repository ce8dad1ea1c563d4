"""ResNet v1 for CIFAR-10 (He et al., 2016), as in the Keras CIFAR-10 example.

Depth 6n + 2 (20, 32, 44, 56, ...): a 3x3 conv, then three stages of n basic
blocks with 16, 32 and 64 filters (stride 2 at the start of stages 2 and 3),
global average pooling and a dense layer. Input (N, 32, 32, 3) float32 in
[0, 1] (centred inside the model); output (N, 10) logits.
"""
import keras
from keras import layers


def _conv_bn(x, filters, strides, activation, weight_decay, name):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal",
                      kernel_regularizer=keras.regularizers.l2(weight_decay),
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if activation else x


def _basic_block(x, filters, strides, weight_decay, name):
    y = _conv_bn(x, filters, strides, True, weight_decay, f"{name}_a")
    y = _conv_bn(y, filters, 1, False, weight_decay, f"{name}_b")
    if strides != 1 or x.shape[-1] != filters:  # projection shortcut (1x1 conv)
        x = layers.Conv2D(filters, 1, strides=strides, kernel_initializer="he_normal",
                          kernel_regularizer=keras.regularizers.l2(weight_decay),
                          name=f"{name}_shortcut")(x)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))


def build_resnet(depth=20, input_shape=(32, 32, 3), num_classes=10, weight_decay=1e-4,
                 name=None):
    """ResNet v1 of the given depth (6n + 2), logits out."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet v1 depth must be 6n + 2 with n >= 1 (20, 32, ...), got {depth}")
    blocks = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0, offset=-0.5, name="centre")(inputs)
    x = _conv_bn(x, 16, 1, True, weight_decay, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, strides, weight_decay, f"s{stage + 1}b{block + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, kernel_initializer="he_normal", name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")
