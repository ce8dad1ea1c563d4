"""Table 4: targeted attacks on every classifier, SR and mean noise.

``python -m experiments.table4 --dataset mnist --profile paper [--images N]
[--attacked point,distilled]``

Each point classifier is attacked with T-JSMA, T-CW-L0, T-FGSM, T-IGSM,
T-CW-L∞ and T-CW-L2 on every wrong target of the profile's images; the
region-based classifier is judged on the point classifier's examples
(transferred, as in the paper), at the run's r and, when that is not the
paper's, at the paper's r as well (`experiments.tables.judges_of`). Images
are added ``images_per_call`` at a time across all attacks
(`experiments.plan`), so a run stopped early has every attack on the same
images; records resume (experiments.attack_records).
Writes table4.json / table4.md and table4.run.json under the results directory.
"""
import time

from cw_attacks.registry import norm_of
from experiments.cli import main_for
from experiments.paper_values import TABLE4, TABLE4_COLUMNS
from experiments.plan import TARGETED, ensure_part
from experiments.tables import cell, finish_table, judges_of, region_note

assert tuple(TARGETED) == TABLE4_COLUMNS


def measure(experiment):
    """{classifier: {column: cell}} from the records (region-based rows: transferred from point).

    Each cell is measured on the longest prefix of the sample its records
    cover (the cell says how many images); cells without records are left out.
    """
    measured = {}
    for classifier in experiment.models:
        for column, attack in TARGETED.items():
            images = experiment.recorded_images(classifier, [attack])
            if not len(images):
                continue
            records = experiment.records(classifier, attack)
            result = records.result(images)
            norm = norm_of(attack)
            for judge, radius in judges_of(experiment, classifier).items():
                judged = result if judge == classifier else experiment.transferred(
                    result, images, records.labels(images), norm, judge=judge)
                measured.setdefault(judge, {})[column] = cell(judged, norm, len(images), radius)
    return measured


def run(experiment):
    """Attack, measure, write table4.{json,md,run.json}; returns the Markdown."""
    began = time.time()
    ensure_part(experiment, "table4")
    note = f"Attacks: {experiment.profile.attack_settings} settings. {region_note(experiment)}"
    return finish_table(experiment, "table4", "Table 4: targeted attacks", TABLE4_COLUMNS,
                        TABLE4, measure(experiment), note, began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
