"""Table 6: combined attacks on every classifier, SR and mean noise.

``python -m experiments.table6 --dataset mnist --profile paper``

Per example, the successful candidate with the smallest noise (judged by the
classifier under evaluation) among (paper section 5.2):

  T-CA-L0   T-JSMA, T-CW-L0
  T-CA-L∞   T-FGSM, T-IGSM, T-CW-L∞
  T-CA-L2   T-CW-L2 with every confidence k of the profile (Figures 6, 7)

and U-CA-X the same over the image's 9 targets, U-CA-L2 adding DeepFool.
The region-based classifier judges the point classifier's examples (at the
run's r and, if that is not the paper's, at the paper's r as well). The
k sweep runs on the point classifier only (it is the RC's attack); for the
other point classifiers T-CA-L2 uses k = 0, which is also what wins there
(a larger k only adds noise against the attacked model itself).
Writes table6.json / table6.md / table6.run.json.
"""
import time

from cw_attacks.compose import best_over_targets, combine
from cw_attacks.registry import norm_of
from experiments.cli import main_for
from experiments.paper_values import TABLE6, TABLE6_COLUMNS
from experiments.plan import DEEPFOOL, GROUPS, confidence_names, ensure_part
from experiments.protocol import targeted_examples
from experiments.tables import cell, finish_table, judges_of, region_note


def attack_names(experiment, classifier):
    """{group: records names} whose examples are the candidates of ``classifier``."""
    names = {group: list(attacks) for group, attacks in GROUPS.items()}
    if classifier == "point":
        names["CA-L2"] = confidence_names(experiment)
    return names


def combined_cells(experiment, classifier, group, judge, images, radius=None):
    """{"T-<group>": cell, "U-<group>": cell} on ``classifier``'s examples of ``images``.

    judge: the classifier that decides success (``experiment.judge(...)``); radius:
    its r when it is region-based (kept in the cells).
    """
    x, true = experiment.data.x_test[images], experiment.data.y_test[images]
    x9, targets = targeted_examples(x, true)
    norm = norm_of(GROUPS[group][0])
    results = [experiment.records(classifier, name).result(images)
               for name in attack_names(experiment, classifier)[group]]
    untargeted = [best_over_targets(r, x, true, judge, norm=norm) for r in results]
    if group == "CA-L2":
        untargeted.append(experiment.records(classifier, DEEPFOOL).result(images))
    return {"T-" + group: cell(combine(results, x9, targets, judge, norm, True), norm,
                               len(images), radius),
            "U-" + group: cell(combine(untargeted, x, true, judge, norm, False), norm,
                               len(images), radius)}


def measure(experiment):
    """{classifier: {column: cell}}, each group on the sample prefix all its records cover."""
    measured = {}
    for classifier in experiment.models:
        for group, names in attack_names(experiment, classifier).items():
            images = experiment.recorded_images(
                classifier, names + ([DEEPFOOL] if group == "CA-L2" else []))
            if not len(images):
                continue
            for judge, radius in judges_of(experiment, classifier).items():
                measured.setdefault(judge, {}).update(combined_cells(
                    experiment, classifier, group, experiment.judge(judge), images, radius))
    return measured


def run(experiment):
    """Attack what is missing, measure, write table6.*; returns the Markdown."""
    began = time.time()
    ensure_part(experiment, "table6")
    measured = measure(experiment)
    ks = ", ".join(f"{k:g}" for k in experiment.profile.confidences)
    note = (f"T-CA-L2 against point and region-based: T-CW-L2 with k in {{{ks}}} (the "
            f"paper: k up to 40); against the other classifiers k = 0. {region_note(experiment)}")
    return finish_table(experiment, "table6", "Table 6: combined attacks", TABLE6_COLUMNS,
                        TABLE6, measured, note, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
