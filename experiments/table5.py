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
from experiments.cli import main_for
from experiments.paper_values import TABLE5, TABLE5_COLUMNS, paper_cells
from experiments.table4 import TARGETED
from experiments.tables import cell, finish, render


def untargeted_results(experiment, classifier, judge):
    """{column: AttackResult per image} of Table 5 for the examples of ``classifier``.

    judge: the classifier that decides success (``experiment.judge(...)``).
    """
    images = experiment.images
    x, true = experiment.data.x_test[images], experiment.data.y_test[images]
    results = {}
    for column, (attack, norm) in TARGETED.items():
        targeted = experiment.attack(classifier, attack)
        results["U" + column[1:]] = best_over_targets(targeted, x, true, judge, norm=norm)
    deepfool = experiment.attack(classifier, "DeepFool", targeted=False)
    results["DeepFool"] = combine([deepfool], x, true, judge, "l2", targeted=False)
    return results


NORMS = {"U" + column[1:]: norm for column, (_, norm) in TARGETED.items()} | {"DeepFool": "l2"}


def run(experiment):
    """Attack what is missing, measure, write table5.*; returns the Markdown."""
    began = time.time()
    images = len(experiment.images)
    measured = {}
    for classifier in experiment.models:
        results = untargeted_results(experiment, classifier, experiment.judge(classifier))
        measured[classifier] = {c: cell(r, NORMS[c], images) for c, r in results.items()}
    results = untargeted_results(experiment, "point", experiment.judge("region"))
    measured["region"] = {c: cell(r, NORMS[c], images) for c, r in results.items()}
    markdown = render(f"Table 5 ({experiment.dataset}): untargeted attacks", TABLE5_COLUMNS,
                      measured, paper_cells(TABLE5, TABLE5_COLUMNS, experiment.dataset),
                      note="U-X: the smallest successful of the image's 9 T-X examples; "
                           "region-based judged on the point classifier's examples.")
    return finish(experiment, "table5", measured, markdown, {}, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
