"""Regenerate every table and figure of the paper for one dataset: the headline command.

    python -m experiments.reproduce --dataset mnist --profile quick    # minutes on a CPU
    python -m experiments.reproduce --dataset mnist --profile paper    # the paper's protocol

Runs the parts of `experiments.report.PARTS` in order (``--parts`` picks
some), each resumable from its per-image records, and rewrites
``experiments/results/<dataset>-<profile>/REPORT.md`` after every part, so
a run stopped at any point leaves a report of what is finished; running
the same command again continues. ``--images N`` runs the first N images of
the profile's random draw (a GPU-less machine cannot run the reference CW
attacks on 100 images in a day); extending N later redoes nothing.
``--attacked none`` attacks nothing and reports what the records hold
(a part whose records are missing says so in the report).
``--shard K/N`` attacks only shard K's share of the images and writes no
report (`experiments.cli`): run the N shards (processes or machines on one
``--out``), then the same command with ``--attacked none`` and no
``--shard`` builds the report, identical to a one-process run's.
Ends with a short summary: point vs region-based accuracy and the T-CW-L2
success rate against both.
"""
import importlib
import os
import time

from experiments.cli import experiment_from, parser, progress, run_part
from experiments.context import NotRecorded
from experiments.paper_values import TABLE3
from experiments.report import PARTS, write_report
from experiments.tables import load
from models.cli import run_main


def summary(experiment):
    """A few lines: accuracy of point vs RC and T-CW-L2 SR on both (from the parts run)."""
    lines = []
    accuracy = load(experiment.out, "table3")
    if accuracy:
        acc = accuracy["accuracy_percent"]
        paper = TABLE3[experiment.dataset]
        lines.append(f"benign accuracy ({accuracy['images']:,} test images): point "
                     f"{acc['point']:.2f}%, region-based {acc['region']:.2f}% "
                     f"(paper {paper['point']}% / {paper['region']}%)")
    targeted = load(experiment.out, "table4")
    if targeted:
        point, region = targeted["point"]["T-CW-L2"], targeted["region"]["T-CW-L2"]
        lines.append(f"T-CW-L2 ({experiment.profile.attack_settings} settings, {point['examples']} "
                     f"examples): SR {point['sr']:.1f}% against point, {region['sr']:.1f}% "
                     f"against region-based")
    return lines


def main(argv=None, log=progress):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--parts", help=f"comma-separated subset of {','.join(PARTS)}")
    args = p.parse_args(argv)
    parts = args.parts.split(",") if args.parts else list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"unknown parts {unknown}; expected some of {list(PARTS)}")
    began = time.time()
    experiment = experiment_from(args, log)
    for part in parts:
        experiment.log(f"== {part}: {PARTS[part]}")
        run = importlib.import_module(f"experiments.{part}").run
        if experiment.shard is not None:  # a shard only attacks: no part outputs, no report
            run_part(experiment, part, run)
            continue
        try:
            run(experiment)
        except NotRecorded as missing:
            experiment.log(f"{part} not run: {missing}")
            with open(os.path.join(experiment.out, f"{part}.md"), "w") as f:
                f.write(f"### {PARTS[part]}\n\nNot run: {missing}.\n")
        report = write_report(experiment.dataset, experiment.profile, experiment.out)
    if experiment.shard is not None:
        experiment.log(f"shard {experiment.shard} done ({time.time() - began:.0f} s)")
        return
    experiment.log(f"report: {report} ({time.time() - began:.0f} s)")
    for line in summary(experiment):
        experiment.log(line)


if __name__ == "__main__":
    run_main(main)
