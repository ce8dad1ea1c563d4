"""Table 5: untargeted attacks on every classifier, SR and mean noise.

``python -m experiments.table5 --dataset mnist --profile paper``

As the paper does, U-X reuses the targeted runs of Table 4: per benign
image, the successful example with the smallest noise among its 9 targeted
examples (judged untargeted by the classifier under evaluation); DeepFool
runs directly on each image. The region-based classifier judges the point
classifier's examples (at the run's r and, if that is not the paper's, at the
paper's r as well). Needs Table 4's records for the same images (runs
what is missing). Writes table5.json / table5.md / table5.run.json.
"""
import time

from cw_attacks.compose import best_over_targets, combine
from cw_attacks.registry import norm_of
from experiments.cli import main_for
from experiments.paper_values import TABLE5, TABLE5_COLUMNS
from experiments.plan import DEEPFOOL, TARGETED, ensure_part
from experiments.tables import cell, finish_table, judges_of, region_note


def untargeted_result(experiment, classifier, column, judge, images):
    """`AttackResult` (one row per image) of Table 5's ``column`` on ``classifier``'s examples.

    judge: the classifier that decides success (``experiment.judge(...)``).
    """
    x, true = experiment.data.x_test[images], experiment.data.y_test[images]
    if column == DEEPFOOL:
        deepfool = experiment.records(classifier, DEEPFOOL).result(images)
        return combine([deepfool], x, true, judge, norm_of(DEEPFOOL), targeted=False)
    attack = TARGETED["T" + column[1:]]
    targeted = experiment.records(classifier, attack).result(images)
    return best_over_targets(targeted, x, true, judge, norm=norm_of(attack))


def measure(experiment):
    """{classifier: {column: cell}}, each cell on the prefix of the sample its records cover."""
    measured = {}
    for classifier in experiment.models:
        for column in TABLE5_COLUMNS:
            name = DEEPFOOL if column == DEEPFOOL else TARGETED["T" + column[1:]]
            images = experiment.recorded_images(classifier, [name])
            if not len(images):
                continue
            for judge, radius in judges_of(experiment, classifier).items():
                result = untargeted_result(experiment, classifier, column,
                                           experiment.judge(judge), images)
                measured.setdefault(judge, {})[column] = cell(result, norm_of(name), len(images),
                                                              radius)
    return measured


def run(experiment):
    """Attack what is missing, measure, write table5.*; returns the Markdown."""
    began = time.time()
    ensure_part(experiment, "table5")
    note = ("U-X: the smallest successful of the image's 9 T-X examples (judged by the row's "
            f"classifier). {region_note(experiment)}")
    return finish_table(experiment, "table5", "Table 5: untargeted attacks", TABLE5_COLUMNS,
                        TABLE5, measure(experiment), note, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
