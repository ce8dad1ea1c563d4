"""Figures 1 and 5: a 10 x 10 grid of targeted T-CW-L2 examples, labelled by RC.

``python -m experiments.examples --dataset mnist --profile paper [--images N]``

Row i holds the first image of the sample whose true label is i (a blank
row, with a note, where the sample has none), column j its T-CW-L2 example
for target j, the diagonal the benign image itself. Figure 1 uses the
T-CW-L2 records ("CW-L2", k = 0), Figure 5 the high-confidence ones
("CW-L2-k20", k = 20, attacked here where missing; skipped with a note when
20 is not among the profile's confidences). Above each cell: the label the
region-based classifier predicts for it, green where that is the column's
label (the target; the true label on the diagonal), red otherwise.
Writes figure1.png, figure5.png, examples.json, examples.md and
examples.run.json under the results directory.

The grid is drawn by `experiments.grid` (shared with Figure 9).
"""
import os
import time

from experiments.cli import main_for
from experiments.context import NotRecorded
from experiments.grid import class_rows, grid_table, render_grid
from experiments.plan import FIGURE5_CONFIDENCE, records_name
from experiments.tables import finish



def attacked_grid(experiment, records, rows, path, title, **overrides):
    """`render_grid` of the CW-L2 examples in the records ``records`` (attacked where missing)."""
    indices = [index for index in rows if index is not None]
    examples, success = {}, {}
    if indices:
        result = experiment.attack("point", "CW-L2", images=indices, records_name=records,
                                   **overrides)
        per = len(result) // len(indices)
        for n, index in enumerate(indices):
            examples[index] = result.adversarial[n * per:(n + 1) * per]
            success[index] = result.success[n * per:(n + 1) * per]
    return render_grid(experiment, path, rows, examples, success, title)


def run(experiment):
    """Figures 1 and 5: writes figure1/5.png and examples.{json,md}; returns the markdown."""
    began = time.time()
    rows = class_rows(experiment)
    missing = [i for i, index in enumerate(rows) if index is None]
    data = {"rows": rows, "radius": experiment.radius,
            "num_samples": experiment.profile.num_samples}
    data["figure1"] = attacked_grid(
        experiment, "CW-L2", rows, os.path.join(experiment.out, "figure1.png"),
        f"Figure 1 ({experiment.dataset}): T-CW-L2 examples (k = 0), titled with the RC label")
    lines = [f"## Figures 1 and 5 ({experiment.dataset}): T-CW-L2 examples judged by RC", "",
             "Row i: the first sample image of true label i; column j: its T-CW-L2 example for "
             "target j (diagonal: the benign image). Each cell is titled with the label the "
             f"region-based classifier (r = {experiment.radius:g}, m = "
             f"{experiment.profile.num_samples}) predicts, green where it is the column's label.",
             ""]
    if missing:
        lines += [f"The sample ({len(experiment.images)} images) has no image of class "
                  f"{', '.join(map(str, missing))}: those rows are blank.", ""]
    lines += ["![Figure 1](figure1.png)", "", grid_table(data["figure1"]), "",
              "Paper (Figure 1, MNIST): every example of column j is classified j by the point "
              "classifier (T-CW-L2 succeeds 100% on it), while RC keeps nearly all of them "
              "(T-CW-L2 on RC: 0.2% SR, Table 4), so few cells here should be green off the "
              "diagonal.", ""]
    k, data["figure5"] = FIGURE5_CONFIDENCE, None
    if k not in experiment.profile.confidences:
        lines += [f"Figure 5 skipped: k = {k} is not among this profile's "
                  f"confidences {experiment.profile.confidences}.", ""]
    else:
        try:
            data["figure5"] = attacked_grid(
                experiment, records_name(k), rows, os.path.join(experiment.out, "figure5.png"),
                f"Figure 5 ({experiment.dataset}): high-confidence T-CW-L2 (k = {k}), RC label",
                confidence=k)
        except NotRecorded as missing:
            lines += [f"Figure 5 not drawn: {missing}.", ""]
    if data["figure5"]:
        lines += [f"High-confidence T-CW-L2 with k = {k}:", "", "![Figure 5](figure5.png)", "",
                  grid_table(data["figure5"]), "",
                  f"Paper (Figure 5, MNIST, k = {k}): the examples of column j are predicted j "
                  "by the region-based classifier, but several no longer look like their true "
                  "digit (2 with target 9, 4 with target 0, 9 with target 1).", ""]
    return finish(experiment, "examples", data, "\n".join(lines),
                  {"figures": ["figure1", "figure5"]}, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
