"""Figure 4: validation accuracy of the region-based classifier versus the radius r.

``python -m experiments.figure4 --dataset mnist --profile paper``

Runs Algorithm 1 (`rc_keras.radius`, resumable) on the point classifier with
the paper's step 0.01: the paper profile on the whole validation set, into
``experiments/results/radius_<dataset>/`` (the radius every other part
uses once it exists); the quick profile on the first ``radius_images``
validation images, into ``<out>/radius/``.
Writes figure4.md beside the other parts.
"""
import json
import os
import shutil
import time

from experiments.cli import main_for
from experiments.protocol import RESULTS_DIR
from rc_keras import radius as radius_cli

RADIUS_STEP = 0.01


def run(experiment):
    """Learn r (or resume), copy Figure 4 next to the report; returns the Markdown."""
    began, profile = time.time(), experiment.profile
    if profile.radius_images:
        out = os.path.join(experiment.out, "radius")
        args = ["--limit", str(profile.radius_images)]
    else:
        out, args = os.path.join(RESULTS_DIR, f"radius_{experiment.dataset}"), []
    result = radius_cli.main(["--dataset", experiment.dataset, "--out", out,
                              "--step", str(RADIUS_STEP),
                              "--num-samples", str(profile.num_samples)] + args)
    shutil.copyfile(os.path.join(out, "figure4.png"), os.path.join(experiment.out, "figure4.png"))
    images = profile.radius_images or len(experiment.data.y_val)
    paper = {"mnist": "r = 0.3", "cifar10": "r = 0.02"}[experiment.dataset]
    flat = [r for r, a in result.curve if a >= result.point_accuracy]
    with open(os.path.join(out, "radius.json")) as f:
        passes = sum(step["forward_passes"] for step in json.load(f)["steps"])
    markdown = "\n".join([
        f"### Figure 4 ({experiment.dataset}): RC validation accuracy versus r", "",
        "![Figure 4](figure4.png)", "",
        f"Algorithm 1 on {images:,} validation images, step {RADIUS_STEP:g}, "
        f"m = {profile.num_samples}: point accuracy {result.point_accuracy:.2%}, "
        f"learned r = {result.radius:.2f} (paper: {paper}). RC accuracy stays at or above "
        f"the point accuracy for r in [{min(flat):.2f}, {max(flat):.2f}] "
        f"({passes:,} forward passes of the base model over the whole search).",
        "" if profile.radius_images else
        f"The other parts use this radius ({os.path.relpath(out)}/radius.json)."]) + "\n"
    with open(os.path.join(experiment.out, "figure4.md"), "w") as f:
        f.write(markdown)
    experiment.write_run_record("figure4", {"radius_dir": out}, time.time() - began)
    experiment.log(markdown)
    return markdown


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
