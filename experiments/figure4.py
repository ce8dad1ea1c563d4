"""Figure 4: validation accuracy of the region-based classifier versus the radius r.

``python -m experiments.figure4 --dataset mnist --profile paper``

Runs Algorithm 1 (`rc_keras.radius.run`, resumable) on the point classifier
with the paper's step 0.01: the paper profile on the whole validation set,
into ``experiments/results/radius_<dataset>/``, which also writes the
dataset's learned radius (`rc_keras.radius.learned_radius_path`, the radius
every part uses); the quick profile on the first ``radius_images``
validation images, into ``<out>/radius/``. Writes figure4.md beside the
other parts.
"""
import os
import shutil
import time

from experiments.cli import main_for
from experiments.protocol import RESULTS_DIR
from rc_keras import radius as rc_radius

RADIUS_STEP = 0.01


def run(experiment):
    """Learn r (or resume), copy Figure 4 next to the report; returns the Markdown."""
    began, profile = time.time(), experiment.profile
    if profile.radius_images:
        out = os.path.join(experiment.out, "radius")
    else:
        out = os.path.join(RESULTS_DIR, f"radius_{experiment.dataset}")
    result, passes = rc_radius.run(experiment.dataset, out=out, limit=profile.radius_images or None,
                                   num_samples=profile.num_samples, step=RADIUS_STEP,
                                   log=experiment.log)
    shutil.copyfile(os.path.join(out, "figure4.png"), os.path.join(experiment.out, "figure4.png"))
    images = profile.radius_images or len(experiment.data.y_val)
    paper = f"r = {rc_radius.PAPER_RADIUS[experiment.dataset]:g}"
    flat = [r for r, a in result.curve if a >= result.point_accuracy]
    learned = os.path.relpath(rc_radius.learned_radius_path(experiment.dataset))
    if profile.radius_images:   # the quick profile's own search: no other part uses it
        used_by_parts = ""
    elif experiment.radius == result.radius:
        used_by_parts = f"The other parts use this radius ({learned})."
    else:
        used_by_parts = (f"The other parts of this run use r = {experiment.radius:g} "
                         f"({experiment.radius_source}).")
    markdown = "\n".join([
        f"### Figure 4 ({experiment.dataset}): RC validation accuracy versus r", "",
        "![Figure 4](figure4.png)", "",
        f"Algorithm 1 on {images:,} validation images, step {RADIUS_STEP:g}, "
        f"m = {profile.num_samples}: point accuracy {result.point_accuracy:.2%}, "
        f"learned r = {result.radius:.2f} (paper: {paper}). RC accuracy stays at or above "
        f"the point accuracy for r in [{min(flat):.2f}, {max(flat):.2f}] "
        f"({passes:,} forward passes of the base model over the whole search).",
        used_by_parts]) + "\n"
    with open(os.path.join(experiment.out, "figure4.md"), "w") as f:
        f.write(markdown)
    experiment.write_run_record("figure4", {"radius_dir": out}, time.time() - began)
    experiment.log(markdown)
    return markdown


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
