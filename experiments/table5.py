"""Table 5: untargeted attacks on every classifier, SR and mean noise.

``python -m experiments.table5 --dataset mnist --profile paper``

As the paper does, U-X reuses the targeted runs of Table 4: per benign
image, the successful example with the smallest noise among its 9 targeted
examples (judged untargeted by the classifier under evaluation); DeepFool
runs directly on each image. The region-based classifier judges the point
classifier's examples. Needs Table 4's records for the same images (runs
what is missing). Writes table5.json / table5.md / table5.run.json.
"""
import time

from cw_attacks.compose import best_over_targets, combine
from experiments import table4
from experiments.cli import main_for
from experiments.paper_values import TABLE5, TABLE5_COLUMNS
from experiments.table4 import TARGETED
from experiments.tables import cell, finish_table


DEEPFOOL = "DeepFool"
NORMS = {"U" + column[1:]: norm for column, (_, norm) in TARGETED.items()} | {DEEPFOOL: "l2"}


def attack_all(experiment):
    """Table 4's attacks and DeepFool on the attacked classifiers (what is not recorded yet)."""
    table4.attack_all(experiment)
    for classifier in experiment.attacked:
        experiment.attack(classifier, DEEPFOOL, targeted=False)


def untargeted_results(experiment, classifier, judge, images):
    """{column: AttackResult, one row per image} of ``classifier``'s examples on ``images``.

    judge: the classifier that decides success (``experiment.judge(...)``).
    """
    x, true = experiment.data.x_test[images], experiment.data.y_test[images]
    results = {}
    for column, (attack, norm) in TARGETED.items():
        targeted = experiment.records(classifier, attack).result(images)
        results["U" + column[1:]] = best_over_targets(targeted, x, true, judge, norm=norm)
    deepfool = experiment.records(classifier, DEEPFOOL).result(images)
    results[DEEPFOOL] = combine([deepfool], x, true, judge, "l2", targeted=False)
    return results


def measure(experiment):
    """{classifier: {column: cell}}, each on the prefix of the sample its records cover."""
    names = [a for a, _ in TARGETED.values()] + [DEEPFOOL]
    measured = {}
    for classifier in experiment.models:
        images = experiment.recorded_images(classifier, names)
        if not len(images):
            continue
        judges = {classifier: classifier} | ({"region": "region"} if classifier == "point" else {})
        for name, judge in judges.items():
            results = untargeted_results(experiment, classifier, experiment.judge(judge), images)
            measured[name] = {c: cell(r, NORMS[c], len(images)) for c, r in results.items()}
    return measured


def run(experiment):
    """Attack what is missing, measure, write table5.*; returns the Markdown."""
    began = time.time()
    attack_all(experiment)
    note = ("U-X: the smallest successful of the image's 9 T-X examples; region-based judged "
            "on the point classifier's examples.")
    return finish_table(experiment, "table5", "Table 5: untargeted attacks", TABLE5_COLUMNS,
                        TABLE5, measure(experiment), note, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
