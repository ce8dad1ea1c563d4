"""The result every attack returns, and the noise norms it reports.

Images are (N, H, W, C) float32 in [0, 1]. Noise is measured on that scale:
L2 and L∞ of the difference, and L0 as the number of PIXELS (H x W
positions) where any channel moved by more than `L0_THRESHOLD`.
"""
import dataclasses

import numpy as np

L0_THRESHOLD = 1e-4


def noise_norms(x, x_adv, l0_threshold=L0_THRESHOLD):
    """Per-example (l0, l2, linf) of x_adv - x, each an (N,) float array."""
    delta = np.asarray(x_adv, np.float64) - np.asarray(x, np.float64)
    n, per_image = len(delta), int(np.prod(delta.shape[1:-1]))  # explicit sizes: N may be 0
    pixels = np.abs(delta).max(axis=-1).reshape(n, per_image)
    delta = delta.reshape(n, per_image * delta.shape[-1])
    l0 = (pixels > l0_threshold).sum(axis=1).astype(np.float64)
    return l0, np.sqrt((delta ** 2).sum(axis=1)), np.abs(delta).max(axis=1, initial=0.0)


@dataclasses.dataclass
class AttackResult:
    """What an attack found for N examples.

    Attributes:
        adversarial: (N, H, W, C) float32 in [0, 1]; the original image where
            the attack failed.
        success: (N,) bool, judged by the attacked model (or the judge of a
            composition).
        l0, l2, linf: (N,) float64 noise of `adversarial` (0 where failed).
        iterations: (N,) int, gradient steps or model queries spent.
    """

    adversarial: np.ndarray
    success: np.ndarray
    l0: np.ndarray
    l2: np.ndarray
    linf: np.ndarray
    iterations: np.ndarray

    @classmethod
    def from_images(cls, x, adversarial, success, iterations):
        """Build a result, resetting failed examples to x and measuring the noise."""
        success = np.asarray(success, bool)
        adversarial = np.where(success.reshape(-1, *[1] * (np.ndim(x) - 1)), adversarial, x)
        adversarial = adversarial.astype(np.float32)
        l0, l2, linf = noise_norms(x, adversarial)
        return cls(adversarial, success, l0, l2, linf, np.asarray(iterations, np.int64))

    def __len__(self):
        return len(self.success)

    def __getitem__(self, rows):
        """The `AttackResult` of the examples ``rows`` (an int, slice, index array or mask)."""
        if isinstance(rows, (int, np.integer)):
            rows = [rows]
        return AttackResult(**{name: getattr(self, name)[rows] for name in _FIELDS})

    @classmethod
    def concatenate(cls, results):
        """One `AttackResult` holding the examples of ``results`` (a non-empty sequence) in order."""
        results = list(results)
        if not results:
            raise ValueError("concatenate needs at least one AttackResult")
        return cls(**{name: np.concatenate([getattr(r, name) for r in results])
                      for name in _FIELDS})

    def to_record(self):
        """(record, arrays): the per-example scalars as JSON-ready lists, and the images.

        record: {"success": [bool], "l0", "l2", "linf": [float], "iterations": [int]};
        arrays: {"adversarial": (N, H, W, C) float32}. `from_record` inverts it exactly.
        """
        record = {name: getattr(self, name).tolist() for name in _SCALARS}
        return record, {"adversarial": self.adversarial}

    @classmethod
    def from_record(cls, record, arrays):
        """The `AttackResult` saved by `to_record` (extra keys of ``record`` are ignored)."""
        return cls(np.asarray(arrays["adversarial"], np.float32),
                   np.asarray(record["success"], bool),
                   *(np.asarray(record[k], np.float64) for k in ("l0", "l2", "linf")),
                   np.asarray(record["iterations"], np.int64))

    @property
    def success_rate(self):
        return float(np.mean(self.success)) if len(self) else 0.0

    def mean_noise(self, norm):
        """Mean of ``norm`` ("l0", "l2" or "linf") over the successful examples (NaN if none)."""
        values = getattr(self, norm)[self.success]
        return float(values.mean()) if len(values) else float("nan")


_FIELDS = tuple(field.name for field in dataclasses.fields(AttackResult))
_SCALARS = ("success", "l0", "l2", "linf", "iterations")
