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

    @property
    def success_rate(self):
        return float(np.mean(self.success)) if len(self) else 0.0

    def mean_noise(self, norm):
        """Mean of ``norm`` ("l0", "l2" or "linf") over the successful examples (NaN if none)."""
        values = getattr(self, norm)[self.success]
        return float(values.mean()) if len(values) else float("nan")
