"""The attack table: every attack the experiments and benchmarks run, by name.

``ATTACKS[name]`` is an `Entry`: the `Attack` class, the goal its runs use,
and two settings profiles, as keyword arguments on top of the class's
defaults (which are the reference implementations' defaults):

- ``"reference"``: the settings of the paper's runs (``entry.reference``);
- ``"quick"``: the reference settings updated by ``entry.quick`` (fewer
  iterations, for smoke runs and the quick experiment profile).

The norm an attack is measured in is its class's ``norm`` attribute
(``entry.norm``; EOTPGD's is a setting, read from ``reference``), written
nowhere else. `build(name, model, profile)` makes the attack. Adding an
attack is one line in `ATTACKS`.
"""
import dataclasses
import types

from cw_attacks.base import Attack
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

PROFILES = ("reference", "quick")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One attack of the table.

    Attributes:
        cls: the `Attack` subclass.
        reference: constructor settings of the paper's runs, over the class defaults.
        quick: settings the quick profile changes from ``reference``.
        targeted: the goal of the runs (labels are targets, or true labels);
            None: targeted where the class can target (the paper's T-X
            attacks, from which it builds U-X), else untargeted.
        one_at_a_time: the benchmark also times it with batch_size=1.
    """

    cls: type
    reference: dict = dataclasses.field(default_factory=dict)
    quick: dict = dataclasses.field(default_factory=dict)
    targeted: bool = None
    one_at_a_time: bool = False

    def __post_init__(self):
        if not (isinstance(self.cls, type) and issubclass(self.cls, Attack)):
            raise TypeError(f"an entry's class must derive from Attack, got {self.cls!r}")
        if self.targeted is None:
            object.__setattr__(self, "targeted", self.cls.can_target)
        for name in ("reference", "quick"):   # read-only, as the table is shared
            object.__setattr__(self, name, types.MappingProxyType(dict(getattr(self, name))))
        if "norm" in self.quick:
            raise ValueError("the quick profile must not change an attack's norm")

    @property
    def norm(self):
        """"l0", "l2" or "linf": the noise the attack minimises, its results' norm.

        The class's ``norm``, or for a class whose norm is a setting (EOTPGD)
        the ``reference`` one: the ``norm`` of every attack `build` makes.
        """
        return self.reference.get("norm", self.cls.norm)

    def settings(self, profile):
        """Constructor settings (a new dict) of ``profile`` ("reference" or "quick")."""
        if profile not in PROFILES:
            raise ValueError(f"unknown attack settings profile {profile!r}; expected one of "
                             f"{PROFILES}")
        return {**self.reference, **(self.quick if profile == "quick" else {})}


ATTACKS = {
    "CW-L2": Entry(CarliniL2, quick={"binary_search_steps": 5, "max_iterations": 1000}),
    "CW-L0": Entry(CarliniL0, quick={"max_iterations": 100}, one_at_a_time=True),
    "CW-Linf": Entry(CarliniLinf, quick={"max_iterations": 100}, one_at_a_time=True),
    "FGSM": Entry(FGSM),
    "IGSM": Entry(IGSM),
    # The paper's T-JSMA succeeds on 100% of MNIST examples with 72.3 pixels
    # on average, more than a 10% budget (78 pixels) allows: it ran unbudgeted.
    "JSMA": Entry(JSMA, reference={"gamma": 1.0}),
    "DeepFool": Entry(DeepFool),
    # Adaptive attacks (a point model or a region-based classifier); budgets
    # at the top of experiments.adaptive's sweeps, which override eps.
    "EOTPGD-Linf": Entry(EOTPGD, reference={"eps": 0.3}, quick={"steps": 20, "eot_samples": 8},
                         targeted=False),
    "EOTPGD-L2": Entry(EOTPGD, reference={"norm": "l2", "eps": 3.0},
                       quick={"steps": 20, "eot_samples": 8}, targeted=False),
    "OptMargin": Entry(OptMargin, quick={"max_iterations": 200}, targeted=False),
    "EOT-CW-L2": Entry(EOTCarliniL2, quick={"binary_search_steps": 5, "max_iterations": 200,
                                            "eot_samples": 8}),
}


def get_entry(name):
    """The `Entry` of attack ``name``; ValueError naming the known attacks if unknown."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; expected one of {sorted(ATTACKS)}")
    return ATTACKS[name]


def norm_of(name):
    """The norm ("l0", "l2" or "linf") attack ``name`` is measured in."""
    return get_entry(name).norm


def build(name, model, profile="reference", **overrides):
    """Attack ``name`` on ``model`` with the settings of ``profile``, updated by ``overrides``.

    The goal is the entry's (``targeted`` may be overridden). Raises
    ValueError for an unknown name or profile, and the constructor's errors
    for bad settings or a model that does not return logits.
    """
    entry = get_entry(name)
    kwargs = {"targeted": entry.targeted, **entry.settings(profile), **overrides}
    return entry.cls(model, **kwargs)


__all__ = ["ATTACKS", "Entry", "PROFILES", "build", "get_entry", "norm_of"]
