"""`Attack`: the one shape every attack of this package has.

An attack is constructed with the model it attacks and keyword-only
hyper-parameters, and called as ``attack.attack(x, labels) -> AttackResult``:

- ``x``: (N, H, W, C) float32 images in [0, 1] of the model's input shape;
- ``labels``: (N,) ints in [0, K): the targets when ``attack.targeted``,
  else the true labels (success is then any other prediction).

The class attributes say what an attack is: ``norm`` ("l0", "l2" or "linf",
the noise it minimises or bounds; the norm its results are compared in),
``can_target`` / ``can_untarget`` (which of the two goals it supports; an
untargeted-only attack such as DeepFool says ``can_target = False``) and
``results_depend_on_batch_size`` (False unless the attack draws randomness
per batch: then ``batch_size`` changes results, not only speed). The
goal defaults to targeted where the attack can target, else untargeted, so
``DeepFool(model)`` and ``CarliniL2(model)`` both build; asking for a goal the
attack lacks is a ValueError.

``attack.attack_stream(x, labels)`` attacks the same batch but reports
examples as they finish: an iterator of (rows, result), rows (k,) int64
indices into x and result the `AttackResult` of those k examples, every
example exactly once and each result equal to its row of ``attack(x,
labels)``. The default yields one item, ``attack(x, labels)`` itself (an
attack may draw its randomness per call, e.g. EOTPGD's seeded random
starts, so splitting the call could change results); the Carlini–Wagner
engine (`cw_attacks.cw_common.CarliniAttack`) streams examples as they
retire while it keeps its batch full, so a caller (a campaign over many
images) can record an image as soon as its examples are done.

`Attack.__init__` checks the model once, at construction: it must be
callable, have a known input shape and return logits (N, K). Outputs that lie
in [0, 1] on a probe batch are taken for probabilities (softmax, sigmoid, or a
scaled softmax) and refused, since every attack here needs logits; an attack
on something else (e.g. a region-based classifier, whose outputs are vote
fractions) overrides `_check_model`. `Attack.attack` checks the inputs
(`check_attack_inputs`) and calls the subclass's batched `_attack`.
"""
import numpy as np
import tensorflow as tf

from cw_attacks.result import AttackResult
from models.checks import check_images, check_labels, model_input_shape

DEFAULT_BATCH_SIZE = 100
NORMS = ("l0", "l2", "linf")
PROBE_IMAGES = 8   # images of the probe batch of the logits check


def check_logits(model, x, batch_size=DEFAULT_BATCH_SIZE):
    """Run ``model`` on x (N, H, W, C) and return its outputs (N, K) as NumPy.

    Raises:
        ValueError: the outputs are not (N, K), are not finite, or all lie in
            [0, 1] (probabilities: a softmax, a sigmoid or a scaled softmax)
            while the attacks need logits.
    """
    outputs = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                              for i in range(0, len(x), batch_size)])
    if outputs.ndim != 2 or outputs.shape[0] != len(x):
        raise ValueError(f"the model must return logits of shape (N, classes), got {outputs.shape}")
    if not np.all(np.isfinite(outputs)):
        raise ValueError("the model returned NaN or Inf on these inputs")
    if outputs.size and outputs.min() >= 0 and outputs.max() <= 1:
        raise ValueError("the model's outputs all lie in [0, 1] on these inputs: probably "
                         "probabilities (softmax or sigmoid); give the attack the logits model "
                         "(the layer before the softmax) instead")
    return outputs


def is_adversarial(logits, labels, targeted, confidence=0.0):
    """(N,) bool: the logits (N, K) reach the goal with margin `confidence`.

    Targeted: argmax of Z with Z_t lowered by k is t. Untargeted: argmax of Z
    with Z_y raised by k is not y. (The reference lowers Z_y in the
    untargeted case too, which for k > 0 accepts images still classified as
    y; both agree for k = 0.)
    """
    onehot = tf.one_hot(labels, tf.shape(logits)[1], dtype=logits.dtype)
    shift = -confidence if targeted else confidence
    predicted = tf.argmax(logits + shift * onehot, axis=1, output_type=labels.dtype)
    return tf.equal(predicted, labels) if targeted else tf.not_equal(predicted, labels)


def probe_batch(input_shape, seed=0):
    """A fixed batch (PROBE_IMAGES, H, W, C) of images in [0, 1]: black, white, noise."""
    rng = np.random.default_rng(seed)
    noise = rng.random((PROBE_IMAGES - 2, *input_shape), dtype=np.float32)
    return np.concatenate([np.zeros((1, *input_shape), np.float32),
                           np.ones((1, *input_shape), np.float32), noise])


def check_attack_inputs(model, x, labels, num_classes):
    """Check a batch for ``model``; return (x (N, H, W, C) float32, labels (N,) int64).

    Raises the errors of `check_images` (dtype, shape, NaN, range) and
    `check_labels` (shape, labels outside [0, num_classes)), and ValueError
    for an empty batch.
    """
    x = check_images(x, expected_shape=model_input_shape(model))
    if not len(x):
        raise ValueError("x holds no images: an attack needs at least one")
    return x, check_labels(labels, len(x), num_classes)


def in_batches(run, batch_size, *arrays):
    """``run`` on consecutive slices of ``batch_size`` rows of ``arrays``, outputs concatenated.

    run(*slices) returns a tuple of arrays (or tensors) whose first axis is
    the slice's; the result is the tuple of their concatenations (NumPy).
    """
    parts = [run(*(a[i:i + batch_size] for a in arrays))
             for i in range(0, len(arrays[0]), batch_size)]
    return tuple(np.concatenate([np.asarray(part[k]) for part in parts])
                 for k in range(len(parts[0])))


def check_positive(name, value, integer=False):
    """Validate a hyper-parameter: a positive finite number (a positive int if asked)."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class Attack:
    """Base of every attack: model check, goal, input checks, one call shape.

    Args:
        model: Keras model, images (N, H, W, C) in [0, 1] -> logits (N, K).
        targeted: labels are targets (True) or true labels (False); None
            (the default): targeted if the attack can target, else untargeted.
        batch_size: examples processed at once (never changes the results).

    Attributes: ``model``, ``targeted`` (bool), ``batch_size`` and
    ``num_classes`` (K, read from the model's outputs on the probe batch).

    Subclasses set ``norm`` (and ``can_target``/``can_untarget`` where only
    one goal exists), call ``super().__init__`` first, then validate their own
    keyword-only hyper-parameters, and implement ``_attack(x, labels)`` on
    checked NumPy inputs.
    """

    norm = None
    can_target = True
    can_untarget = True
    # False: batch_size only changes speed (each example's result is computed from
    # it alone), so campaign records resume at another batch size. True for attacks
    # whose randomness is drawn per batch.
    results_depend_on_batch_size = False

    def __init__(self, model, *, targeted=None, batch_size=DEFAULT_BATCH_SIZE):
        if self.norm not in NORMS:
            raise TypeError(f"{type(self).__name__}.norm must be one of {NORMS}, got {self.norm!r}")
        if targeted is None:
            targeted = self.can_target
        if not isinstance(targeted, (bool, np.bool_)):
            raise TypeError(f"targeted must be True or False, got {targeted!r}")
        self.targeted = bool(targeted)
        if self.targeted and not self.can_target:
            raise ValueError(f"{type(self).__name__} is untargeted only: pass targeted=False")
        if not self.targeted and not self.can_untarget:
            raise ValueError(f"{type(self).__name__} is targeted only: pass targeted=True")
        self.batch_size = check_positive("batch_size", batch_size, integer=True)
        self.model = model
        self.num_classes = self._check_model(model)

    def _check_model(self, model):
        """Check the model once; return its number of classes K."""
        if not callable(model) or not (getattr(model, "inputs", None)
                                       or hasattr(model, "input_shape")):
            raise TypeError("model must be a Keras model returning logits, "
                            f"got {type(model).__name__}")
        shape = model_input_shape(model)
        if any(s is None for s in shape):
            raise ValueError(f"the model's input shape {shape} must be fully known")
        return check_logits(model, probe_batch(shape)).shape[1]

    def attack(self, x, labels):
        """Attack a batch.

        Args:
            x: (N, H, W, C) float32 images in [0, 1], the model's input shape.
            labels: (N,) ints in [0, K): targets (targeted) or true labels.

        Returns:
            `AttackResult`; failed examples keep x.

        Raises:
            TypeError, ValueError: bad images or labels, or no images.
        """
        x, labels = check_attack_inputs(self.model, x, labels, self.num_classes)
        return self._attack(x, labels)

    def attack_stream(self, x, labels):
        """Attack a batch, reporting examples as they finish.

        Args: as `attack` (checked here, at the call, not when iterating).

        Returns:
            iterator of (rows, result): rows (k,) int64 indices into x, in no
            promised order across items, and result the `AttackResult` of
            x[rows]; every example appears exactly once, and its result is
            the one ``attack(x, labels)`` returns for it.

        Raises:
            TypeError, ValueError: bad images or labels, or no images.
        """
        x, labels = check_attack_inputs(self.model, x, labels, self.num_classes)
        return self._stream(x, labels)

    def _attack(self, x, labels):
        """Checked x (N, H, W, C) float32 and labels (N,) int64 -> `AttackResult`."""
        raise NotImplementedError

    def _stream(self, x, labels):
        """Checked inputs -> iterator of (rows, `AttackResult`); here one item, all rows."""
        yield np.arange(len(x), dtype=np.int64), self._attack(x, labels)

    def __repr__(self):
        goal = "targeted" if self.targeted else "untargeted"
        return f"{type(self).__name__}({goal}, norm={self.norm})"


__all__ = ["Attack", "AttackResult", "DEFAULT_BATCH_SIZE", "NORMS", "check_attack_inputs",
           "check_logits", "check_positive", "in_batches", "is_adversarial", "probe_batch"]
