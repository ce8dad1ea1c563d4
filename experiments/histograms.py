"""Figure 2: label histograms of random points in the hypercube around examples.

``python -m experiments.histograms --dataset mnist --profile paper [--images N]``

The first sample image of true label 0 (the first sample image if the
sample has none, as the report then says) and its 9 T-CW-L2, T-CW-L0 and
T-CW-L∞ examples on the point classifier (records "CW-L2", "CW-L0",
"CW-Linf"; attacked where missing). For the benign image and each example,
the point classifier labels ``profile.histogram_samples`` points drawn
uniformly from the hypercube of radius r around it (clipped to [0, 1]):
a `RegionClassifier` vote without early stopping. One PNG per attack
(figure2a.png L2, figure2b.png L0, figure2c.png L∞), each 2 x 5 bar charts:
the benign image, then the examples by target. Writes histograms.json
(the counts), histograms.md and histograms.run.json under the results
directory.
"""
import os
import time

import numpy as np

from cw_attacks.compose import wrong_targets
from experiments.cli import main_for
from experiments.plan import HISTOGRAMS
from experiments.tables import finish, markdown_table
from rc_keras import RegionClassifier

ATTACKS = HISTOGRAMS   # figure -> (records on "point", attack name)
WANTED_LABEL = 0


def pick_image(experiment):
    """(test index, note): the first sample image of true label 0, else the first one."""
    labels = experiment.data.y_test[experiment.images]
    hits = np.flatnonzero(labels == WANTED_LABEL)
    if len(hits):
        return int(experiment.images[hits[0]]), ""
    index = int(experiment.images[0])
    return index, (f"The sample ({len(experiment.images)} images) has no image of label "
                   f"{WANTED_LABEL}; its first image (test {index}, label {labels[0]}) is used "
                   "instead.")


def plot(path, counts, true_label, targets, success, title):
    """2 x 5 bar charts: benign counts, then the example of each target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 5, figsize=(9, 3.6), sharex=True, sharey=True)
    total = int(counts[0].sum())
    panels = [(f"benign (label {true_label})", counts[0], None)]
    panels += [(f"target {t}" + ("" if ok else " (attack failed)"), c, t)
               for t, c, ok in zip(targets, counts[1:], success)]
    classes = np.arange(counts.shape[1])
    for ax, (name, votes, target) in zip(axes.flat, panels):
        colors = ["tab:green" if c == true_label else "tab:red" if c == target else "tab:gray"
                  for c in classes]
        ax.bar(classes, votes, color=colors)
        ax.set_title(name, fontsize=8)
        ax.set_xticks(classes)
        ax.tick_params(labelsize=7)
        ax.set_ylim(0, total)
    for ax in axes[:, 0]:
        ax.set_ylabel("sampled points", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("predicted label", fontsize=8)
    fig.suptitle(title + " (green: true label, red: target)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(experiment):
    """Figure 2; writes figure2a/b/c.png and histograms.{json,md}; returns the markdown."""
    began = time.time()
    profile = experiment.profile
    index, note = pick_image(experiment)
    true_label = int(experiment.data.y_test[index])
    targets = wrong_targets([true_label])[1]
    rc = RegionClassifier(experiment.models["point"], experiment.radius,
                          num_samples=profile.histogram_samples, seed=profile.rc_seed,
                          early_stop=False)
    benign = rc.vote_counts(experiment.data.x_test[index][None])
    data = {"test_index": index, "true_label": true_label, "radius": experiment.radius,
            "samples": profile.histogram_samples, "seed": profile.rc_seed,
            "benign": benign[0], "attacks": {}}
    for figure, (records, attack) in ATTACKS.items():
        result = experiment.attack("point", records, images=[index])
        counts = rc.vote_counts(result.adversarial)
        data["attacks"][attack] = {"figure": f"{figure}.png", "targets": targets,
                                   "success": result.success, "counts": counts}
        plot(os.path.join(experiment.out, f"{figure}.png"), np.concatenate([benign, counts]),
             true_label, targets, result.success,
             f"{attack}: labels of {profile.histogram_samples:,} points around each example, "
             f"r = {experiment.radius:g}")
        majority = int(np.sum(np.argmax(counts, axis=1)[result.success] == true_label))
        data["attacks"][attack]["true_label_majority"] = majority
    rows = [["benign"] + [f"{int(benign[0, true_label])} / – → {int(np.argmax(benign[0]))}"]
            * len(ATTACKS)]
    for n, target in enumerate(targets):
        row = [f"target {int(target)}"]
        for attack in data["attacks"].values():
            c, ok = attack["counts"][n], attack["success"][n]
            row.append(f"{int(c[true_label])} / {int(c[target])} → {int(np.argmax(c))}"
                       + ("" if ok else " (attack failed)"))
        rows.append(row)
    summary = "; ".join(f"{a}: {d['true_label_majority']} of {int(np.sum(d['success']))}"
                        for a, d in data["attacks"].items())
    lines = [f"## Figure 2 ({experiment.dataset}): label histograms around adversarial examples",
             "",
             f"Test image {index} (true label {true_label}) and its T-CW-L2, T-CW-L0 and "
             f"T-CW-L∞ examples for every target ({profile.attack_settings} attack settings). "
             f"Each chart counts the point classifier's labels of {profile.histogram_samples:,} "
             f"points drawn uniformly from the hypercube of radius r = {experiment.radius:g} "
             f"({experiment.radius_source}) around the example.", ""]
    if note:
        lines += [note, ""]
    lines += ["![Figure 2a: T-CW-L2](figure2a.png)", "", "![Figure 2b: T-CW-L0](figure2b.png)",
              "", "![Figure 2c: T-CW-L∞](figure2c.png)", "",
              f"Each entry: points labelled {true_label} (the true label) / points labelled the "
              "target → the majority label.", "",
              markdown_table(["example"] + [a for _, a in ATTACKS.values()], rows), "",
              f"Measured: the true label wins the vote around {summary} produced examples.", "",
              "Paper (Figure 2, MNIST, a benign 0, 10,000 points, r = 0.3): almost all points "
              "around the benign example are labelled 0, and for most adversarial examples a "
              "majority of points still get the true label 0 (Observations I and II).", ""]
    return finish(experiment, "histograms", data, "\n".join(lines),
                  {"test_index": index, "histogram_samples": profile.histogram_samples},
                  began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
