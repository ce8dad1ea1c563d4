"""`RegionClassifier`: the region-based classifier RC_{C,r} of Cao & Gong (2017).

RC labels an input x with the class whose region intersects the hypercube
B(x, r) (clipped to [0, 1]) the most, estimated by classifying m points
sampled uniformly in that box with the point classifier C and counting votes.
"""
import numbers

import keras
import numpy as np
import tensorflow as tf

from models.checks import RANGE_TOLERANCE, check_images, model_input_shape
from rc_keras import voting
from rc_keras.certify import LaterRounds, abstaining_labels, certificate, check_alpha
from rc_keras.loading import load_base_model
from rc_keras.sampling import BoxSampler

DEFAULT_CHUNK_SIZE = 1024
# With m = 1000, L = 10 and error_bound = 1e-4, a unanimous vote can stop after
# 22 samples (`rc_keras.voting`): one round of 24.
DEFAULT_ROUND_SIZE = 24
DEFAULT_ERROR_BOUND = 1e-4


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _device_key(name):
    """("CPU"|"GPU"|..., index) of a device name ("/GPU:1", "/job:.../device:GPU:1"), or None."""
    try:
        spec = tf.DeviceSpec.from_string(name)
    except (TypeError, ValueError):
        return None
    return (spec.device_type or "").upper(), spec.device_index


def _check_devices(devices):
    """None, or a tuple of the names of >= 1 logical devices TensorFlow knows."""
    if devices is None:
        return None
    if isinstance(devices, str):
        raise ValueError(f"devices must be a list of device names or None, got {devices!r}")
    logical = [d.name for d in tf.config.list_logical_devices()]
    known = {_device_key(name) for name in logical}
    names = tuple(devices)
    if not names or any(_device_key(d) not in known for d in names):
        raise ValueError(f"devices must name >= 1 of the logical devices {logical}, "
                         f"got {list(names)}")
    return names


def _check_radius(radius):
    if (isinstance(radius, bool) or not isinstance(radius, numbers.Real)
            or not np.isfinite(radius) or radius < 0):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    return float(radius)


@keras.saving.register_keras_serializable(package="rc_keras")
class RegionClassifier(keras.Model):
    """Region-based classification around a Keras point classifier.

    For each input x, ``num_samples`` (m) points are drawn uniformly from the
    hypercube B(x, r) clipped to [0, 1] (per pixel uniform on
    [max(0, x - r), min(1, x + r)]), classified by ``base_model``, and counted;
    the RC label is the most-voted class, ties going to the lowest label.
    Sampling, classification and counting run in TensorFlow inside
    ``tf.function``, batched over examples.

    Inputs: float images (N, H, W, C) in [0, 1], (H, W, C) the base model's.
    Outputs of ``rc(x)`` and ``rc.predict(x)``: float32 vote fractions
    (N, classes), rows summing to 1 (the fraction of the example's sampled
    points that the base model puts in each class), so argmax is the RC label.

    Randomness:
        ``seed=None`` (default): fresh, unpredictable noise on every call,
        seeded by the kernel from the operating system; independent of
        ``tf.random.set_seed``; a saved, loaded or exported RC never replays
        earlier noise. Two calls on the same x may then differ where votes
        are close.
        ``seed=<int>``: the sampled points are a fixed function of
        (x, r, seed, round_size): the same input gives the same votes in
        every call, batch composition, process, and after saving/loading or
        export. The noise block of each round is shared by all examples
        (common random numbers; see `rc_keras.sampling`).

    Input checks:
        Eager calls (``rc(x)`` on arrays or eager tensors, ``predict``,
        ``predict_labels``, ``vote_counts``) check with
        ``models.checks.check_images``: float dtype (TypeError), shape
        (N, H, W, C) matching the base model, no NaN/Inf, values within
        [0, 1] up to 1e-6 (ValueError). In graph mode (inside ``tf.function``,
        Keras' compiled predict step, an exported SavedModel) the dtype and
        static shape are checked when tracing (TypeError/ValueError), and
        NaN/Inf and the [0, 1] range by ``tf.debugging`` assertions, which
        raise ``tf.errors.InvalidArgumentError`` when run.

    Args:
        base_model: Keras model, images (N, H, W, C) -> (N, classes) logits or
            probabilities (only the argmax is used). H, W, C must be known.
        radius: r >= 0, half the side of the hypercube, in pixel units
            (pixels in [0, 1]). r = 0 is the point classifier (one forward
            pass, m votes for its label). Settable later: ``rc.radius = r``.
        num_samples: m >= 1, points sampled per input (paper: 1,000).
        chunk_size: at most this many sampled points go through the base
            model at once (memory bound; default 1,024).
        round_size: samples per example per round (default 24): early
            stopping checks between rounds, and the seeded noise stream is
            drawn per round. 24 lets a unanimous vote stop after one round
            at the defaults (see `rc_keras.voting`).
        seed: None (fresh noise) or an int >= 0 (reproducible), see above.
        early_stop: False (default): every input gets all m votes (the
            paper's fixed-m vote). True: stop an input's vote once its winner
            is decided (`rc_keras.voting`): the exact rule never changes a
            label; the sequential rule errs with probability <= error_bound
            per input. Vote fractions are then over the points drawn.
        error_bound: delta in [0, 1) of the sequential rule (default 1e-4);
            0 keeps only the exact rule.
        devices: None (default: TensorFlow's placement) or device names
            (e.g. ``models.devices.select_devices("all")``): each batch of
            inputs is split into contiguous parts, one voted on per device,
            in parallel in one graph. An example's votes depend only on its
            own sampled points (`rc_keras.voting`), so a seeded RC gives the
            same counts on any number of devices. Not saved with the model.
        **kwargs: ``keras.Model`` arguments (e.g. ``name``).
    """

    def __init__(self, base_model, radius, num_samples=1000, *, chunk_size=DEFAULT_CHUNK_SIZE,
                 round_size=DEFAULT_ROUND_SIZE, seed=None, early_stop=False,
                 error_bound=DEFAULT_ERROR_BOUND, devices=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(base_model, keras.Model):
            raise TypeError(f"base_model must be a keras.Model, got {type(base_model).__name__}")
        self.image_shape = model_input_shape(base_model)
        if len(self.image_shape) != 3 or None in self.image_shape:
            raise ValueError(f"base_model must take images of a known shape (H, W, C), "
                             f"takes {self.image_shape}")
        output_shape = base_model.output_shape
        if not isinstance(output_shape, tuple) or len(output_shape) != 2 or not output_shape[1]:
            raise ValueError(f"base_model must output (N, classes) scores, outputs {output_shape}")
        self.base_model = base_model
        self.num_classes = int(output_shape[1])
        self.num_samples = _check_int(num_samples, "num_samples", 1)
        self.chunk_size = _check_int(chunk_size, "chunk_size", 1)
        self.round_size = _check_int(round_size, "round_size", 1)
        self.seed = None if seed is None else _check_int(seed, "seed", 0)
        if not isinstance(early_stop, bool):
            raise ValueError(f"early_stop must be True or False, got {early_stop!r}")
        self.early_stop = early_stop
        if not isinstance(error_bound, numbers.Real) or not 0 <= error_bound < 1:
            raise ValueError(f"error_bound must lie in [0, 1), got {error_bound!r}")
        self.error_bound = float(error_bound)
        self.devices = _check_devices(devices)
        self._radius_value = _check_radius(radius)
        self._radius = self.add_weight(
            name="radius", shape=(), trainable=False,
            initializer=keras.initializers.Constant(self._radius_value))
        self._vote_fn = tf.function(self._count_votes, input_signature=[
            tf.TensorSpec((None,) + self.image_shape, tf.float32)])
        self._certify_vote_fn = tf.function(self._certify_votes, reduce_retracing=True)
        self.built = True

    @property
    def radius(self):
        """r, half the side of the hypercube (float, pixel units)."""
        return self._radius_value

    @radius.setter
    def radius(self, value):
        self._radius_value = _check_radius(value)
        self._radius.assign(self._radius_value)

    @classmethod
    def from_file(cls, path, radius, num_samples=1000, **kwargs):
        """An RC around the point classifier stored at ``path``.

        ``path``: a ``.keras`` file, a legacy Keras 2 ``.h5``/``.hdf5`` file, or
        a SavedModel directory (see `rc_keras.loading.load_base_model`); the
        other arguments are the constructor's.
        """
        return cls(load_base_model(path), radius, num_samples, **kwargs)

    def _classify(self, points):
        return tf.argmax(self.base_model(points, training=False), axis=-1, output_type=tf.int32)

    def sample_points(self, x, num_samples, seed=None, draw=0):
        """Points of the vote's distribution, differentiable in x (for adaptive attacks).

        y = lo(x) + u * (hi(x) - lo(x)), u ~ U[0, 1]^D, with the box of
        `BoxSampler` (lo = max(0, x - r), hi = min(1, x + r)), so gradients
        flow to x: dy_j / dx_j is 1 where neither side of the box is clipped,
        1 - u_j or u_j where one side is, 0 where both are. Works eagerly and
        inside ``tf.function``; x is not checked (attack loops call this).

        Args:
            x: float32 tensor (N, H, W, C) in [0, 1].
            num_samples: S >= 1 (Python int), points per input.
            seed: None (fresh noise on every call) or an int >= 0: the points
                are then a function of (x, r, seed, draw, S), with the same
                noise for every example (common random numbers).
            draw: int scalar (tensor allowed), the index of the draw under a
                seed (e.g. an attack's iteration); ignored when seed is None.

        Returns:
            float32 tensor (N, S, H, W, C), points in B(x, r) and in [0, 1].
        """
        num_samples = _check_int(num_samples, "num_samples", 1)
        seed = None if seed is None else _check_int(seed, "seed", 0)
        x = tf.convert_to_tensor(x, tf.float32)
        n = tf.shape(x)[0]
        sampler = BoxSampler(x, tf.convert_to_tensor(self._radius), num_samples, seed)
        points = sampler.points(tf.cast(draw, tf.int32), tf.repeat(tf.range(n), num_samples),
                                tf.tile(tf.range(num_samples), [n]))
        return tf.reshape(points, tf.concat([[n, num_samples], self.image_shape], 0))

    def _count_votes(self, x):
        """int32 vote counts (N, classes) for float32 x (N, H, W, C), in-graph: on one
        device, or split across ``devices`` (contiguous parts, some empty if N is small)."""
        if self.devices is None:
            return self._count_votes_here(x)
        n, parts = tf.shape(x)[0], len(self.devices)
        bounds = [(n * k) // parts for k in range(parts + 1)]
        counts = []
        for k, device in enumerate(self.devices):
            with tf.device(device):
                counts.append(self._count_votes_here(x[bounds[k]:bounds[k + 1]]))
        return tf.concat(counts, axis=0)

    def _count_votes_here(self, x):
        """int32 vote counts (N, classes) for float32 x (N, H, W, C), in-graph, one device."""
        radius = tf.convert_to_tensor(self._radius)

        def vote(r, num_samples, early_stop):
            sampler = BoxSampler(x, r, self.round_size, self.seed)
            threshold = voting.log_threshold(self.error_bound, num_samples, self.round_size,
                                             self.num_classes)
            return voting.count_votes(self._classify, sampler, num_samples, self.num_classes,
                                      self.round_size, self.chunk_size, early_stop, threshold)

        # r = 0: every sample is x itself, so one forward pass gives all m votes.
        return tf.cond(radius > 0,
                       lambda: vote(radius, self.num_samples, self.early_stop),
                       lambda: vote(radius, 1, False) * self.num_samples)

    def _check(self, x):
        """x as float32, checked as the class docstring says (eager or graph)."""
        if tf.executing_eagerly():
            return tf.convert_to_tensor(
                check_images(keras.ops.convert_to_numpy(x), "x", self.image_shape))
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating:
            raise TypeError(f"x must be a float tensor with values in [0, 1], got {x.dtype}")
        if not x.shape[1:].is_compatible_with(self.image_shape) or x.shape.rank != 4:
            raise ValueError(f"x must have shape (N,) + {self.image_shape}, got {x.shape}")
        x = tf.cast(x, tf.float32)
        with tf.control_dependencies([
                tf.debugging.assert_all_finite(x, "x contains NaN or Inf values"),
                tf.debugging.assert_greater_equal(x, -RANGE_TOLERANCE, "x must lie in [0, 1]"),
                tf.debugging.assert_less_equal(x, 1 + RANGE_TOLERANCE, "x must lie in [0, 1]")]):
            return tf.identity(x)

    def call(self, inputs, training=None):
        """Vote fractions (N, classes) float32 for images (N, H, W, C) in [0, 1]."""
        counts = tf.cast(self._vote_fn(self._check(inputs)), tf.float32)
        return counts / tf.reduce_sum(counts, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def vote_counts(self, x, batch_size=1000):
        """int64 vote counts (N, classes) for images x (N, H, W, C) in [0, 1].

        Rows sum to m, or with ``early_stop=True`` to the number of points
        drawn for that input (the forward passes it cost, for r > 0).
        ``batch_size`` inputs are voted on per graph call (memory use grows
        with it only through the (batch, H*W*C) box bounds).
        """
        x = check_images(x, "x", self.image_shape)
        batch_size = _check_int(batch_size, "batch_size", 1)
        parts = [self._vote_fn(tf.constant(x[i:i + batch_size])).numpy()
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts).astype(np.int64) if parts else \
            np.zeros((0, self.num_classes), np.int64)

    def predict_labels(self, x, batch_size=1000, abstain_alpha=None):
        """int64 RC labels (N,): argmax of the votes, ties to the lowest label.

        ``abstain_alpha`` in (0, 1): Cohen et al.'s PREDICT instead, -1 where
        the binomial test of the top two counts has p-value > abstain_alpha
        (`rc_keras.certify.abstaining_labels`); needs ``early_stop=False``.
        """
        if abstain_alpha is not None:
            check_alpha(abstain_alpha, "abstain_alpha")
            if self.early_stop:
                raise ValueError("abstain_alpha needs early_stop=False: the binomial test "
                                 "is void on an early-stopped vote")
        counts = self.vote_counts(x, batch_size)
        if abstain_alpha is None:
            return np.argmax(counts, axis=1)
        return abstaining_labels(counts, abstain_alpha)

    def _certify_votes(self, x, selection_samples, num_samples):
        """int32 (N, L) selection and (independent) estimation votes, in-graph, never stopped early.

        Rounds of ``chunk_size`` samples; the estimation uses the rounds
        after the selection's (`rc_keras.certify.LaterRounds`).
        """
        sampler = BoxSampler(x, tf.convert_to_tensor(self._radius), self.chunk_size, self.seed)

        def vote(points, count):
            return voting.count_votes(self._classify, points, count, self.num_classes,
                                      self.chunk_size, self.chunk_size)

        skip = voting.num_rounds(selection_samples, self.chunk_size)
        return vote(sampler, selection_samples), vote(LaterRounds(sampler, skip), num_samples)

    def certify(self, x, num_samples=100_000, selection_samples=100, alpha=0.001,
                batch_size=100):
        """Cohen et al.'s CERTIFY for RC's smoothed classifier: a `rc_keras.certify.Certificate`.

        Picks the top class A on ``selection_samples`` points of each
        B(x, r), bounds p_A below from ``num_samples`` independent points
        (one-sided Clopper-Pearson at level 1 - ``alpha``) and certifies A in
        L1, Linf and L2 radii (the derivation is in `rc_keras.certify`), or
        abstains (label -1) when that bound is <= 1/2. The RC's radius (> 0)
        and seed apply; ``num_samples`` (not the RC's m) and no early stopping.
        ``batch_size`` images are certified per graph call.

        Args:
            x: float images (N, H, W, C) in [0, 1].
        """
        x = check_images(x, "x", self.image_shape)
        num_samples = _check_int(num_samples, "num_samples", 1)
        selection_samples = _check_int(selection_samples, "selection_samples", 1)
        alpha = check_alpha(alpha)
        batch_size = _check_int(batch_size, "batch_size", 1)
        if self.radius == 0:
            raise ValueError("certify needs radius > 0: the region of r = 0 certifies nothing")
        selection, counts = [np.zeros((0, self.num_classes), np.int64)] * 2
        for i in range(0, len(x), batch_size):
            votes = self._certify_vote_fn(tf.constant(x[i:i + batch_size]), selection_samples,
                                          num_samples)
            selection = np.concatenate([selection, votes[0].numpy()])
            counts = np.concatenate([counts, votes[1].numpy()])
        return certificate(x, self.radius, selection, counts, alpha)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Vote fractions (N, classes) as ``keras.Model.predict``; ``x`` an array (N may be 0)."""
        x = check_images(x, "x", self.image_shape)
        if not len(x):  # Keras' predict fails on an empty batch
            return np.zeros((0, self.num_classes), np.float32)
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Write a SavedModel whose ``serve`` endpoint returns vote fractions.

        Sampling stays in the graph: after ``tf.saved_model.load(filepath)``,
        ``loaded.serve(x)`` (or ``keras.layers.TFSMLayer(filepath)``) draws
        the sampled points on each call, fresh unless the RC has a seed.
        """
        if input_signature is None:
            input_signature = [tf.TensorSpec((None,) + self.image_shape, tf.float32)]
        return super().export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(base_model=keras.saving.serialize_keras_object(self.base_model),
                      radius=self.radius, num_samples=self.num_samples,
                      chunk_size=self.chunk_size, round_size=self.round_size, seed=self.seed,
                      early_stop=self.early_stop, error_bound=self.error_bound)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["base_model"] = keras.saving.deserialize_keras_object(
            config["base_model"], custom_objects=custom_objects)
        return cls(**config)
