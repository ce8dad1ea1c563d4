"""Table 3: accuracy on benign test images of every classifier.

``python -m experiments.table3 --dataset mnist --profile paper``

Point, adversarially trained and distilled networks, and the region-based
classifier around the point network (early-stopped voting, m samples), on
the whole test set (paper profile) or its first ``accuracy_images`` images.
Writes table3.json / table3.md / table3.run.json.
"""
import time

import numpy as np

from experiments.cli import main_for
from experiments.context import predict_labels
from experiments.paper_values import TABLE3
from experiments.tables import CLASSIFIER_NAMES, finish


def measure(experiment):
    """{classifier: accuracy in %} on the profile's test images."""
    limit = experiment.profile.accuracy_images or None
    x, y = experiment.data.x_test[:limit], experiment.data.y_test[:limit]
    accuracy = {name: 100.0 * float(np.mean(predict_labels(model, x) == y))
                for name, model in experiment.models.items()}
    accuracy["region"] = 100.0 * float(np.mean(experiment.region.predict_labels(x) == y))
    return accuracy, len(x)


def render(experiment, accuracy, images):
    paper = TABLE3[experiment.dataset]
    lines = [f"### Table 3 ({experiment.dataset}): accuracy on benign test images", "",
             "| classifier | measured | paper |", "|---|---|---|"]
    for name, label in CLASSIFIER_NAMES.items():
        measured = f"{accuracy[name]:.2f}%" if name in accuracy else "not trained here"
        lines.append(f"| {label} | {measured} | {paper[name]}% |")
    test_note = experiment.data.test_note if images == len(experiment.data.y_test) \
        else f"the first {images:,} test images"
    lines += ["", f"On {test_note}. Region-based: r = {experiment.radius:g} "
                  f"({experiment.radius_source}), m = {experiment.profile.num_samples}, "
                  "early-stopped voting."]
    return "\n".join(lines) + "\n"


def run(experiment):
    """Measure, write table3.{json,md,run.json}; returns the Markdown."""
    began = time.time()
    accuracy, images = measure(experiment)
    markdown = render(experiment, accuracy, images)
    return finish(experiment, "table3", {"accuracy_percent": accuracy, "images": images},
                  markdown, {}, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
