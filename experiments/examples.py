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

The grid drawing (`render_grid`) is shared with `experiments.adapted` (Figure 9).
"""
import os
import time

import numpy as np

from cw_attacks.compose import wrong_targets
from experiments.cli import main_for
from experiments.context import NotRecorded
from experiments.tables import finish, markdown_table

FIGURE5_CONFIDENCE = 20


# ----------------------------------------------------------------- the grid

def class_rows(experiment, num_classes=10):
    """Per class i, the first sample image (test index) with true label i, or None."""
    labels = experiment.data.y_test[experiment.images]
    return [next((int(index) for index, label in zip(experiment.images, labels) if label == i),
                 None) for i in range(num_classes)]


def render_grid(experiment, path, rows, examples, success, title, judge=None):
    """Draw a class x target grid of examples, each cell titled with its RC label.

    Args:
        experiment: the `Experiment` (data, region-based classifier, log).
        path: the PNG to write.
        rows: per class i, a test index or None (`class_rows`).
        examples: {test index: (K - 1, H, W, C) its examples for the wrong
            targets in increasing order (the layout of `wrong_targets`)}.
        success: {test index: (K - 1,) bool, whether the attack produced
            the example}; a failed cell is drawn greyed and titled "failed".
        title: the figure's title.
        judge: images -> RC labels (default: the experiment's region classifier).

    Returns:
        JSON-ready rows: per present class, its test index, the RC label of
        each column (diagonal: the benign image), whether the attack
        produced each column's example, and how many examples RC puts in
        their target class.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judge = judge or experiment.judge("region")
    num_classes = len(rows)
    cells, produced = {}, {}
    for i, index in enumerate(rows):
        if index is None:
            continue
        targets = wrong_targets([i], num_classes)[1]
        cells[(i, i)], produced[(i, i)] = experiment.data.x_test[index], True
        for j, target in enumerate(targets):
            cells[(i, int(target))] = examples[index][j]
            produced[(i, int(target))] = bool(success[index][j])
    keys = sorted(cells)
    labels = dict(zip(keys, judge(np.stack([cells[k] for k in keys])))) if keys else {}

    present = [index is not None for index in rows]
    heights = [1.0 if p else 0.3 for p in present]
    fig, axes = plt.subplots(num_classes, num_classes, squeeze=False,
                             gridspec_kw={"height_ratios": heights},
                             figsize=(0.75 * num_classes, 0.8 * sum(heights) + 0.9))
    for i in range(num_classes):
        for j in range(num_classes):
            ax = axes[i, j]
            ax.axis("off")
            if j == 0:
                ax.text(-0.12, 0.5, str(i), fontsize=7, ha="right", va="center",
                        transform=ax.transAxes, clip_on=False)
            if i == num_classes - 1:
                ax.text(0.5, -0.12, str(j), fontsize=7, ha="center", va="top",
                        transform=ax.transAxes, clip_on=False)
            if (i, j) not in cells:
                if j == 0 and not present[i]:
                    ax.text(0, 0.5, f"no image of class {i} in the sample", fontsize=6,
                            color="gray", va="center", transform=ax.transAxes, clip_on=False)
                continue
            image = cells[(i, j)]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray",
                      vmin=0, vmax=1, alpha=1.0 if produced[(i, j)] else 0.35)
            if produced[(i, j)]:
                label = int(labels[(i, j)])
                ax.set_title(f"RC {label}", fontsize=6, pad=1.5,
                             color="green" if label == j else "red")
            else:
                ax.set_title("failed", fontsize=6, pad=1.5, color="gray")
    fig.supylabel("true label (row)", fontsize=8)
    fig.supxlabel("target label (column); diagonal: benign image", fontsize=8)
    fig.suptitle(title, fontsize=8)
    height = fig.get_figheight()  # margins in inches, whatever the number of blank rows
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.5 / height, top=1 - 0.5 / height,
                        wspace=0.08, hspace=0.35)
    fig.savefig(path, dpi=110)
    plt.close(fig)

    out = []
    for i, index in enumerate(rows):
        if index is None:
            continue
        rc = [int(labels[(i, j)]) for j in range(num_classes)]
        made = [produced[(i, j)] for j in range(num_classes)]
        out.append({"true_label": i, "test_index": index, "rc_labels": rc, "produced": made,
                    "rc_on_target": sum(rc[j] == j and made[j] for j in range(num_classes)
                                        if j != i)})
    return out


def grid_table(rows):
    """Markdown table of `render_grid`'s rows: per true label, the RC labels by column."""
    body = [[r["true_label"], r["test_index"],
             " ".join(str(label) if made else "·" for label, made in
                      zip(r["rc_labels"], r["produced"])),
             f"{r['rc_on_target']}/{sum(r['produced']) - 1}"] for r in rows]
    return markdown_table(["true label", "test image", "RC label of columns 0–9 (· failed)",
                           "RC predicts the target"], body)


def attacked_grid(experiment, records_name, rows, path, title, **overrides):
    """`render_grid` of the CW-L2 examples in ``records_name`` (attacked where missing)."""
    indices = [index for index in rows if index is not None]
    examples, success = {}, {}
    if indices:
        result = experiment.attack("point", "CW-L2", images=indices, records_name=records_name,
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
                experiment, f"CW-L2-k{k:g}", rows, os.path.join(experiment.out, "figure5.png"),
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
