"""Attacks built from other attacks' results (paper sections 2.2.2, 5.2, 6.3).

Success of a composition is decided by a ``judge``: any callable from images
(N, H, W, C) float32 in [0, 1] to integer labels (N,), the classifier under
evaluation (the point model through `model_judge`, or a region-based
classifier's label prediction). A candidate counts only where its attack
produced an example (``success`` of its `AttackResult`) and the judge agrees:
the judge predicts the target (targeted) or any label but the true one
(untargeted). Among the counted candidates of an example the smallest noise
under ``norm`` ("l0", "l2" or "linf") wins, the earlier candidate on ties;
an example without one fails.

- U-X from T-X (`untargeted_from_targeted`, or `best_over_targets` on a
  targeted result already computed for every wrong target, as the paper
  reuses its targeted runs): the best of the K - 1 targeted examples.
- Combined attacks (`combine`) on the same examples and labels:
  T-CA-L0 = {T-JSMA, T-CW-L0} with norm "l0"; T-CA-L∞ = {T-FGSM, T-IGSM,
  T-CW-L∞} with "linf"; T-CA-L2 = {T-CW-L2 for k = 0, ..., 40} with "l2";
  the untargeted ones combine the U- versions, and U-CA-L2 adds DeepFool.
- Adapted attack X-A (`adapt`): x'' = clip(x + (1 + alpha) (x' - x), 0, 1);
  its success must be judged again (e.g. `combine([result_of_x''], ...)`).
"""
import numpy as np

from cw_attacks.base import NORMS
from cw_attacks.result import AttackResult
from models.checks import check_images, check_labels


def model_judge(model, batch_size=256):
    """A judge from a Keras model: images (N, H, W, C) -> argmax labels (N,) int64."""
    def judge(images):
        return np.argmax(model.predict(images, batch_size=batch_size, verbose=0), axis=1)
    return judge


def wrong_targets(labels, num_classes=10):
    """Every wrong target of every example, example-major.

    Args:
        labels: (N,) int true labels in [0, num_classes).

    Returns:
        (index, targets), both (N * (num_classes - 1),) int64: row
        i * (K - 1) + j is example i with its j-th wrong label (increasing).
    """
    labels = np.asarray(labels, np.int64)
    index = np.repeat(np.arange(len(labels)), num_classes - 1)
    rank = np.tile(np.arange(num_classes - 1), len(labels))
    return index, rank + (rank >= labels[index])


def combine(results, x, labels, judge, norm, targeted):
    """Per example, the judged-successful candidate with the smallest noise.

    Args:
        results: list of `AttackResult`, each on the same N examples x.
        x: (N, H, W, C) float32 originals in [0, 1].
        labels: (N,) int targets (targeted) or true labels (untargeted).
        judge: images -> labels (N,), the classifier under evaluation.
        norm: "l0", "l2" or "linf", the noise to minimise.
        targeted: success is judge == labels (True) or judge != labels (False).

    Returns:
        `AttackResult` of the chosen candidates (x where none succeeded);
        ``iterations`` is the sum over ``results``.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if not results:
        raise ValueError("combine needs at least one AttackResult")
    x = check_images(x)
    labels = np.asarray(labels)
    if labels.shape != (len(x),) or any(len(r) != len(x) for r in results):
        raise ValueError(f"labels and every result must hold {len(x)} examples like x, got "
                         f"labels {labels.shape} and results of {[len(r) for r in results]}")
    best, best_noise = x.copy(), np.full(len(x), np.inf)
    success = np.zeros(len(x), bool)
    for result in results:
        judged = np.zeros(len(x), bool)
        if result.success.any():
            predicted = np.asarray(judge(result.adversarial[result.success]))
            hit = predicted == labels[result.success]
            judged[result.success] = hit if targeted else ~hit
        noise = getattr(result, norm)
        better = judged & (noise < best_noise)
        best[better], best_noise[better] = result.adversarial[better], noise[better]
        success |= judged
    return AttackResult.from_images(x, best, success, sum(r.iterations for r in results))


def best_over_targets(targeted_result, x, true_labels, judge, num_classes=10, norm="l2"):
    """U-X from a T-X result on every wrong target (the layout of `wrong_targets`).

    Args:
        targeted_result: `AttackResult` of N * (num_classes - 1) examples.
        x: (N, H, W, C) float32 originals in [0, 1].
        true_labels: (N,) int.
        judge, norm: as in `combine`; success is judge != true label.

    Returns:
        `AttackResult` for the N examples.
    """
    per_target = num_classes - 1
    if len(targeted_result) != len(x) * per_target:
        raise ValueError(f"targeted_result must hold {per_target} examples per image "
                         f"({len(x) * per_target}), got {len(targeted_result)}")
    parts = [targeted_result[j::per_target] for j in range(per_target)]
    return combine(parts, x, true_labels, judge, norm, targeted=False)


def untargeted_from_targeted(attack, x, true_labels, judge):
    """Run a targeted ``attack`` on every wrong target of every image and keep the best.

    Args:
        attack: a targeted `cw_attacks.base.Attack` (or any object with
            ``targeted``, ``norm``, ``num_classes`` and ``attack(x, targets)
            -> AttackResult``); the best is the smallest noise in its norm.
        x: (N, H, W, C) float32 in [0, 1].
        true_labels: (N,) int in [0, attack.num_classes).
        judge: as in `combine`.

    Returns:
        `AttackResult` for the N examples (the N * (K - 1) images run as one batch).

    Raises:
        ValueError: ``attack`` is untargeted.
    """
    if not attack.targeted:
        raise ValueError(f"untargeted_from_targeted needs a targeted attack, got {attack!r}")
    num_classes, norm = attack.num_classes, attack.norm
    x = check_images(x)
    true_labels = check_labels(true_labels, len(x), num_classes, "true_labels")
    index, targets = wrong_targets(true_labels, num_classes)
    return best_over_targets(attack.attack(x[index], targets), x, true_labels, judge,
                             num_classes, norm)


def adapt(x, x_adv, alpha):
    """Adapted example x'' = clip(x + (1 + alpha) * (x_adv - x), 0, 1), float32 (N, H, W, C)."""
    x, x_adv = check_images(x), check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape or not np.isfinite(alpha):
        raise ValueError(f"x and x_adv must have one shape and alpha must be finite, got "
                         f"{x.shape}, {x_adv.shape}, alpha={alpha!r}")
    return np.clip(x + (1.0 + alpha) * (x_adv - x), 0.0, 1.0).astype(np.float32)
