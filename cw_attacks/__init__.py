"""Evasion attacks on a point classifier that returns logits, and their compositions.

Every attack is a class whose constructor takes the Keras logits model and
the attack's parameters, with ``.attack(x, labels) -> AttackResult`` for x
(N, H, W, C) float32 in [0, 1] and labels the targets (targeted attacks) or
the true labels (untargeted). Compositions (`cw_attacks.compose`) judge
success with any classifier; `run_chunked` runs an attack resumably.
"""
from cw_attacks.compose import (adapt, best_over_targets, combine, model_judge,
                                untargeted_from_targeted, wrong_targets)
from cw_attacks.deepfool import DeepFool
from cw_attacks.fgsm import FGSM
from cw_attacks.igsm import IGSM
from cw_attacks.jsma import JSMA
from cw_attacks.l0 import CarliniL0
from cw_attacks.l2 import CarliniL2
from cw_attacks.linf import CarliniLinf
from cw_attacks.result import AttackResult, noise_norms
from cw_attacks.runner import run_chunked

__all__ = ["AttackResult", "CarliniL0", "CarliniL2", "CarliniLinf", "DeepFool", "FGSM", "IGSM",
           "JSMA", "adapt", "best_over_targets", "combine", "model_judge", "noise_norms",
           "run_chunked", "untargeted_from_targeted", "wrong_targets"]
