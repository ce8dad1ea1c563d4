"""The class x target grid of examples (Figures 1, 5 and 9), each cell titled with its RC label.

Shared by `experiments.examples` (Figures 1 and 5) and `experiments.adapted`
(Figure 9); not an experiment part itself.
"""
import numpy as np

from cw_attacks.compose import wrong_targets
from experiments.tables import markdown_table


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
