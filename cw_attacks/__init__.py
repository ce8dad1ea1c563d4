"""Evasion attacks on a point classifier that returns logits, and their compositions.

Every attack derives from `cw_attacks.base.Attack`: its constructor takes the
Keras logits model and keyword-only parameters (``targeted``, ``batch_size``
and the attack's own), its class says its ``norm``, and
``.attack(x, labels) -> AttackResult`` takes x (N, H, W, C) float32 in [0, 1]
and labels, the targets (targeted) or the true labels (untargeted). The
table of attacks by name, with their paper and quick settings, is
`cw_attacks.registry`. Compositions (`cw_attacks.compose`) judge success
with any classifier; `run_chunked` runs an attack resumably.
"""
from cw_attacks.base import Attack
from cw_attacks.compose import (adapt, best_over_targets, combine, model_judge,
                                untargeted_from_targeted, wrong_targets)
from cw_attacks.deepfool import DeepFool
from cw_attacks.eot_cw import EOTCarliniL2
from cw_attacks.eot_pgd import EOTPGD
from cw_attacks.fgsm import FGSM
from cw_attacks.igsm import IGSM
from cw_attacks.jsma import JSMA
from cw_attacks.l0 import CarliniL0
from cw_attacks.l2 import CarliniL2
from cw_attacks.linf import CarliniLinf
from cw_attacks.optmargin import OptMargin
from cw_attacks.result import AttackResult, noise_norms
from cw_attacks.runner import run_chunked

__all__ = ["Attack", "AttackResult", "CarliniL0", "CarliniL2", "CarliniLinf", "DeepFool",
           "EOTCarliniL2", "EOTPGD", "FGSM", "IGSM", "JSMA", "OptMargin", "adapt",
           "best_over_targets", "combine", "model_judge", "noise_norms", "run_chunked",
           "untargeted_from_targeted", "wrong_targets"]
