"""The attack plan of every experiment part, and `ensure_records`: what is attacked, in one place.

A records name is an attack of `cw_attacks.registry.ATTACKS` ("CW-L2"), or
"CW-L2-k<k>": T-CW-L2 with confidence k (`records_name`). `PLANS[part]`
maps an `Experiment` to the records each classifier needs for that part,
{classifier: [records names]}; `ensure_records` attacks what is missing.
The parts import this module (and never each other): Table 5 builds on
Table 4's records and Table 6 on Table 5's and the k sweep's because their
plans say so, not through each other's code.
"""
from cw_attacks.registry import get_entry

# Table 4: column -> attack in cw_attacks.registry.ATTACKS (its norm: registry.norm_of).
TARGETED = {"T-JSMA": "JSMA", "T-CW-L0": "CW-L0", "T-FGSM": "FGSM", "T-IGSM": "IGSM",
            "T-CW-Linf": "CW-Linf", "T-CW-L2": "CW-L2"}
DEEPFOOL = "DeepFool"
# Table 6: group -> its attacks in cw_attacks.registry.ATTACKS, all measured in one norm
GROUPS = {"CA-L0": ("JSMA", "CW-L0"), "CA-Linf": ("FGSM", "IGSM", "CW-Linf"), "CA-L2": ("CW-L2",)}
# Figure 2: figure -> (records on "point", attack shown)
HISTOGRAMS = {"figure2a": ("CW-L2", "T-CW-L2"), "figure2b": ("CW-L0", "T-CW-L0"),
              "figure2c": ("CW-Linf", "T-CW-L∞")}
# Figures 8 and 9: column -> records on "point"
ADAPTED = {"T-CW-L0-A": "CW-L0", "T-CW-L2-A": "CW-L2", "T-CW-Linf-A": "CW-Linf"}
FIGURE5_CONFIDENCE = 20   # Figure 5: T-CW-L2 with k = 20
_CONFIDENCE_PREFIX = "CW-L2-k"


def records_name(k):
    """The records of T-CW-L2 with confidence k: "CW-L2" (k = 0) or "CW-L2-k<k>"."""
    return "CW-L2" if k == 0 else f"{_CONFIDENCE_PREFIX}{k:g}"


def attack_of(name):
    """(attack in the registry, constructor overrides) that make the records ``name``."""
    if name.startswith(_CONFIDENCE_PREFIX):
        return "CW-L2", {"confidence": float(name[len(_CONFIDENCE_PREFIX):])}
    get_entry(name)   # ValueError for an unknown name
    return name, {}


def confidence_names(experiment):
    """The records of every k of the profile (Figures 6 and 7, T-CA-L2 on point)."""
    return [records_name(k) for k in experiment.profile.confidences]


def _every_classifier(experiment, names):
    return {classifier: list(names) for classifier in experiment.models}


def _table5(experiment):
    return _every_classifier(experiment, list(TARGETED.values()) + [DEEPFOOL])


def _table6(experiment):
    plan = _table5(experiment)
    plan["point"] = plan["point"] + [n for n in confidence_names(experiment)
                                     if n not in plan["point"]]
    return plan


def _examples(experiment):
    ks = experiment.profile.confidences
    return {"point": ["CW-L2"] + ([records_name(FIGURE5_CONFIDENCE)]
                                  if FIGURE5_CONFIDENCE in ks else [])}


PLANS = {
    "table3": lambda experiment: {},
    "figure4": lambda experiment: {},
    "table4": lambda experiment: _every_classifier(experiment, TARGETED.values()),
    "table5": _table5,
    "confidence": lambda experiment: {"point": confidence_names(experiment)},
    "table6": _table6,
    "histograms": lambda experiment: {"point": [name for name, _ in HISTOGRAMS.values()]},
    "adapted": lambda experiment: {"point": list(ADAPTED.values())},
    "examples": _examples,
}


def ensure_records(experiment, names, classifiers=None, images=None):
    """Attack what is not recorded yet of the records ``names`` on ``classifiers``.

    Only classifiers the run attacks (``experiment.attacked``) are attacked;
    the others are left to be read (and reported missing) by the part.
    Images (default: the sample) are added in campaign steps of the
    profile's ``images_per_call`` across all ``names``: each attack streams
    the step's pending images in one continuous batch (recording each image
    as it finishes), then the next attack takes the same step. A run
    stopped early therefore has every attack on the same image prefix to
    within one step.

    Args:
        names: records names (see the module doc).
        classifiers: point classifiers (default: every attacked one).
    """
    images = experiment.images if images is None else images
    step = experiment.profile.images_per_call
    for classifier in classifiers or experiment.attacked:
        if classifier not in experiment.attacked:
            continue
        for stop in range(step, len(images) + step, step):
            for name in names:
                attack, overrides = attack_of(name)
                experiment.attack(classifier, attack, images[:stop],
                                  targeted=get_entry(attack).targeted, records_name=name,
                                  **overrides)


def ensure_part(experiment, part):
    """`ensure_records` of everything `PLANS[part]` names, classifier by classifier."""
    for classifier, names in PLANS[part](experiment).items():
        ensure_records(experiment, names, [classifier])
