"""Beyond the paper: adaptive attacks on the region-based classifier (issue 12).

    python -m experiments.adaptive --dataset mnist --profile quick|paper [--images N]
        [--radius learned|paper] [--parts curves,minimal] [--norms linf,l2]
        [--goals untargeted,targeted] [--classifiers point,region]
        [--linf-eps 0.1,0.2] [--l2-eps 1,2]

The paper judges RC on examples crafted against the point classifier
(transfer). Here the attacks know the defence:

- ``curves``: success rate (SR) vs budget of EOTPGD (`cw_attacks.EOTPGD`)
  against the point classifier (plain PGD, judged by the point classifier)
  and against RC (EOT over RC's own sampling, judged by RC's full vote), L∞
  eps in `EPS["linf"]` and L2 eps in `EPS["l2"]`, untargeted (true label)
  and targeted (every wrong target, 9 examples per image, as the paper).
- ``minimal``: the minimum-noise attacks on RC, OptMargin and EOT-CW-L2
  (untargeted), judged by RC's vote: SR and mean L2 of the successes.

RC is the experiment's (`experiments.context.Experiment`: m = 1,000, the
profile's seed, early stopping with the default error bound), at the learned
radius or the paper's (``--radius paper``, r = 0.3). Attacks take their
settings from the registry profile (quick: 20 steps, 8 EOT samples; paper:
100 steps, 16 samples, step 2.5 eps / 100) and the seed `ATTACK_SEED` (not
the RC's seed, so the attack's samples never replay the judging vote's).

Every cell (classifier, attack, eps, goal) keeps per-image records
(`experiments.attack_records.AttackRecords`) under
``<out>/attacks/<point|region-r<r>>/``: a killed run resumes where it
stopped and a larger ``--images`` attacks only the new images. Outputs,
for the cells the options select (recorded cells are read back, not
attacked again) merged with those of earlier runs at the same r
(`merge_cells`: a cell keeps the image count it was measured on; cells
sorted by attack, goal, classifier and eps):
``adaptive-r<r>.json`` (each cell's images, SR, mean noise, gradient steps
and seconds per image), ``adaptive-r<r>.md``,
``adaptive-r<r>.png`` (SR vs eps) and ``adaptive-r<r>.run.json``; and
``adaptive.md``, every radius's section so far, for the report.
"""
import argparse
import glob
import json
import os
import time

import numpy as np

from cw_attacks.registry import get_entry
from experiments.attack_records import AttackRecords
from experiments.cli import experiment_from, parser, progress
from experiments.context import records_key
from experiments.protocol import IMAGE_SEED
from experiments.tables import percent
from models.cli import run_main
from models.records import write_json

EPS = {"linf": (0.05, 0.1, 0.15, 0.2, 0.25, 0.3), "l2": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)}
QUICK_EPS = {"linf": (0.1, 0.3), "l2": (1.0, 3.0)}
PGD = {"linf": "EOTPGD-Linf", "l2": "EOTPGD-L2"}
MINIMAL = ("OptMargin", "EOT-CW-L2")
PARTS = ("curves", "minimal")
GOALS = ("untargeted", "targeted")
CLASSIFIERS = ("point", "region")
ATTACK_SEED = 1
IMAGES_PER_CALL = 20   # images per stream, unless --images-per-call says otherwise


def choices(allowed, kind=str):
    """An argparse type: a comma-separated subset of ``allowed`` (None: any) of ``kind`` values."""
    def parse(text):
        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
        unknown = [v for v in values if allowed is not None and v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; expected some of {list(allowed)}")
        if kind is float and any(not 0 < v < float("inf") for v in values):
            raise argparse.ArgumentTypeError(f"eps must be finite numbers > 0, got {text!r}")
        return values
    return parse


def cell_name(attack, goal, eps=None):
    """Records name of a cell, e.g. "EOTPGD-Linf-untargeted-eps0.1"."""
    return f"{attack}-{goal}" + ("" if eps is None else f"-eps{eps:g}")


def summarise(result, norm, seconds, per_image):
    """SR, mean noise of the successes, mean gradient steps and seconds per image of a cell."""
    return {"examples": len(result), "success_rate": result.success_rate,
            f"mean_{norm}": result.mean_noise(norm), "mean_l2": result.mean_noise("l2"),
            "gradient_steps_per_example": float(np.mean(result.iterations)),
            "seconds_per_image": seconds, "examples_per_image": per_image}


class AdaptiveRun:
    """The cells of one run: which attacks, on which classifier, and their records."""

    def __init__(self, experiment, log=progress):
        self.experiment, self.log = experiment, log
        self.radius = experiment.radius
        self.region_dir = f"region-r{self.radius:g}"

    def records(self, classifier, name):
        directory = os.path.join(self.experiment.out, "attacks",
                                 self.region_dir if classifier == "region" else classifier)
        return AttackRecords(directory, name)

    def run_cell(self, classifier, attack_name, goal, eps=None):
        """Attack (or read the records of) one cell on the profile's images; its summary."""
        e = self.experiment
        model = e.region if classifier == "region" else e.models["point"]
        overrides = {"seed": ATTACK_SEED} if eps is None else {"seed": ATTACK_SEED, "eps": eps}
        attack = e.build_attack(attack_name, model, goal == "targeted", **overrides)
        name = cell_name(attack_name, goal, eps)
        records = self.records(classifier, name)
        began = time.time()
        per_call = min(e.profile.images_per_call, len(e.images))
        share = e.share(e.images, records_key(classifier, name),
                        per_call)   # every image unless the run is sharded
        if not len(share):
            return None
        result = records.run(attack, e.data.x_test, e.data.y_test, share,
                             targeted=goal == "targeted", images_per_call=per_call,
                             seed=ATTACK_SEED, data_record=e.data.record(), log=self.log)
        if e.shard is not None:  # the other shards' images: measured by a run without --shard
            return None
        seconds = [records.store.record(f"test-{int(i):05d}")["seconds"] for i in e.images]
        summary = summarise(result, get_entry(attack_name).norm, float(np.mean(seconds)),
                            len(result) // len(e.images))
        summary.update(classifier=classifier, attack=attack_name, goal=goal, eps=eps,
                       images=len(e.images),
                       eot_samples=getattr(attack, "eot_samples", None),
                       wall_seconds_this_run=round(time.time() - began, 1))
        self.log(f"{classifier:6s} {name}: SR {percent(100 * summary['success_rate'])} "
                 f"({len(result)} examples)")
        return summary


def cell_key(cell):
    """What identifies a cell: (classifier, attack, goal, eps)."""
    return cell["classifier"], cell["attack"], cell["goal"], cell["eps"]


def merge_cells(path, cells):
    """The cells of an earlier run's ``path`` (adaptive-r<r>.json) updated by this run's ``cells``.

    Runs may measure different cells on different numbers of images (e.g.
    the untargeted curves on 100 images, the 9-times dearer targeted ones on
    20): each cell keeps its own count ("images"). A cell measured again
    replaces its earlier entry. Returned sorted by (attack, goal,
    classifier, eps).
    """
    merged = {}
    if os.path.exists(path):
        with open(path) as f:
            for cell in json.load(f)["cells"]:
                merged[cell_key(cell)] = cell
    for cell in cells:
        merged[cell_key(cell)] = cell
    return sorted(merged.values(), key=lambda c: (c["attack"], c["goal"], c["classifier"],
                                                  -1 if c["eps"] is None else c["eps"]))


def figure(cells, path, radius):
    """SR vs eps, one panel per norm, a line per (classifier, goal)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    norms = [n for n in EPS if any(c["attack"] == PGD[n] for c in cells)]
    if not norms:
        return None
    fig, axes = plt.subplots(1, len(norms), figsize=(5 * len(norms), 3.6), squeeze=False)
    for ax, norm in zip(axes[0], norms):
        for classifier in CLASSIFIERS:
            for goal in GOALS:
                line = sorted((c["eps"], c["success_rate"]) for c in cells
                              if c["attack"] == PGD[norm] and c["classifier"] == classifier
                              and c["goal"] == goal)
                if line:
                    label = f"{'RC' if classifier == 'region' else 'point'}, {goal}"
                    ax.plot(*zip(*line), marker="o", label=label,
                            linestyle="-" if classifier == "region" else "--")
        ax.set(xlabel=f"{'L∞' if norm == 'linf' else 'L2'} budget eps", ylabel="success rate",
               ylim=(-0.02, 1.02), title=f"EOT-PGD ({norm}), RC r = {radius:g}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def comparison(cells):
    """Lines "point X% -> RC Y%" for every curve cell measured on both classifiers."""
    by_key = {(c["attack"], c["goal"], c["eps"], c["classifier"]): c for c in cells
              if c["eps"] is not None}
    lines = []
    for (attack, goal, eps, classifier), cell in by_key.items():
        region = by_key.get((attack, goal, eps, "region"))
        if classifier == "point" and region:
            norm = "L∞" if get_entry(attack).norm == "linf" else "L2"
            lines.append(f"- {norm} eps {eps:g}, {goal}: point network "
                         f"{percent(100 * cell['success_rate'])}, RC "
                         f"{percent(100 * region['success_rate'])} "
                         f"({region['examples']} examples each)")
    return lines


def markdown(cells, radius):
    lines = [f"### Adaptive attacks, RC at r = {radius:g}", "",
             "| classifier | attack | goal | eps | images | examples | SR | mean noise | "
             "grad steps/ex | s/image |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        norm = get_entry(c["attack"]).norm
        eps = "-" if c["eps"] is None else f"{c['eps']:g}"
        images = c.get("images", c["examples"] // c["examples_per_image"])
        lines.append(f"| {c['classifier']} | {c['attack']} | {c['goal']} | {eps} | "
                     f"{images} | {c['examples']} | {percent(100 * c['success_rate'])} | "
                     f"{c[f'mean_{norm}']:.3f} {norm} | "
                     f"{c['gradient_steps_per_example']:.0f} | {c['seconds_per_image']:.1f} |")
    compared = comparison(cells)
    if compared:
        lines += ["", "Success of the same adaptive attack on the point network and on RC "
                      "(each judged by its own decision; RC by its full vote):", "", *compared]
    return "\n".join(lines) + "\n"


SECTION_INTRO = (
    "The paper judges RC on examples crafted against the point network (transfer). These "
    "attacks know the defence: EOT-PGD averages its loss over RC's own sampling and "
    "success is judged by RC's full vote (m = 1,000). The paper's transfer evaluation "
    "reports at most 0.2% success for every CW attack on RC (Table 4); compare the RC "
    "rows below with the point rows at the same budget.")


def write_section(out, dataset):
    """``adaptive.md``, the report's part: every radius's section written so far."""
    paths = sorted(glob.glob(os.path.join(out, "adaptive-r*.md")))
    parts = [f"## Beyond the paper: adaptive attacks ({dataset})", "", SECTION_INTRO, ""]
    for path in paths:
        with open(path) as f:
            parts.append(f.read().rstrip() + "\n")
    with open(os.path.join(out, "adaptive.md"), "w") as f:
        f.write("\n".join(parts))


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--parts", type=choices(PARTS), default=PARTS)
    p.add_argument("--norms", type=choices(tuple(EPS)), default=tuple(EPS))
    p.add_argument("--goals", type=choices(GOALS), default=GOALS)
    p.add_argument("--classifiers", type=choices(CLASSIFIERS), default=CLASSIFIERS)
    for norm in EPS:
        p.add_argument(f"--{norm}-eps", type=choices(None, float),
                       help=f"{norm} budgets of the curves, comma-separated (default: the "
                            "profile's grid)")
    args = p.parse_args(argv)
    if args.images_per_call is None:
        args.images_per_call = IMAGES_PER_CALL
    began = time.time()
    experiment = experiment_from(args)
    run = AdaptiveRun(experiment)
    grids = QUICK_EPS if experiment.profile.name == "quick" else EPS
    cells = []
    if "curves" in args.parts:
        for norm in args.norms:
            for goal in args.goals:
                for classifier in args.classifiers:
                    for eps in getattr(args, f"{norm}_eps") or grids[norm]:
                        cells.append(run.run_cell(classifier, PGD[norm], goal, eps))
    if "minimal" in args.parts:
        for name in MINIMAL:
            cells.append(run.run_cell("region", name, "untargeted"))
    if experiment.shard is not None:
        progress(f"shard {experiment.shard}: its share of the cells is recorded; once every "
                 "shard's is, the same command without --shard writes the outputs")
        return []
    stem = os.path.join(experiment.out, f"adaptive-r{experiment.radius:g}")
    every_cell = merge_cells(stem + ".json", cells)
    write_json(stem + ".json", {"radius": experiment.radius, "cells": every_cell})
    with open(stem + ".md", "w") as f:
        f.write(markdown(every_cell, experiment.radius))
    write_section(experiment.out, experiment.dataset)
    figure([c for c in every_cell if c["eps"] is not None], stem + ".png", experiment.radius)
    experiment.write_run_record(f"adaptive-r{experiment.radius:g}",
                                {"parts": list(args.parts), "norms": list(args.norms),
                                 "goals": list(args.goals), "classifiers": list(args.classifiers),
                                 "linf_eps": list(args.linf_eps or []),
                                 "l2_eps": list(args.l2_eps or []), "attack_seed": ATTACK_SEED,
                                 "image_seed": IMAGE_SEED}, time.time() - began)
    progress(markdown(cells, experiment.radius))
    return cells   # this run's cells (the files hold every cell so far)


if __name__ == "__main__":
    run_main(main)
