"""Measured cells and their Markdown rendering beside the paper's values,
and what every part writes when it finishes (`finish`).

A cell is a dict ``{"sr": success rate (%), "noise": mean noise of the
successes (None if none), "examples": count, "images": benign images}``,
plus ``"radius": r`` when a region-based classifier judged it.
Tables are rendered in the paper's layout: one row per classifier, an SR
and a Noise column per attack, each entry "measured (paper)".

Tables 4-6 judge the point classifier's examples with every region-based
judge of the run (`judges_of`): the RC at the run's r ("region") and, when
that is not the paper's r, the same RC at the paper's r ("region-paper");
both rows stand beside the paper's region-based values.
"""
import json
import os
import time

import numpy as np

from models.records import write_json

CLASSIFIER_NAMES = {"point": "Point-based", "advtrained": "Adversarial training",
                    "distilled": "Distillation", "region": "Region-based"}


def cell(result, norm, images, radius=None):
    """The cell of an `AttackResult`: SR over all examples, mean ``norm`` over the successes.

    radius: the r of the region-based classifier that judged ``result`` (kept
    in the cell), None for a point classifier.
    """
    noise = result.mean_noise(norm)
    got = {"sr": 100.0 * result.success_rate, "noise": None if np.isnan(noise) else noise,
           "examples": len(result), "images": int(images)}
    return got if radius is None else {**got, "radius": float(radius)}


def judges_of(experiment, classifier):
    """{judge: its r (None for a point classifier)} of ``classifier``'s examples in Tables
    4-6: the classifier itself and, for the point classifier, every region-based judge
    of the run (`Experiment.region_radii`), whose cells are transferred examples."""
    judges = {classifier: None}
    if classifier == "point":
        judges.update(experiment.region_radii)
    return judges


def row_names(experiment):
    """Row names of Tables 4-6: `CLASSIFIER_NAMES`, each region-based row naming its r and
    whether it is the learned r or the paper's."""
    names = dict(CLASSIFIER_NAMES)
    for judge, radius in experiment.region_radii.items():
        source = "paper" if judge == "region-paper" else experiment.radius_choice
        names[judge] = f"{CLASSIFIER_NAMES['region']} (r = {radius:g}, {source})"
    return names


def number(value, digits=3):
    """A table entry: "–" for None/NaN, else ``digits`` significant digits (1 decimal from 100)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 100 else f"{value:.1f}"


def plain(value):
    """``value`` with numpy scalars/arrays made JSON-ready and NaN made None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def markdown_table(header, rows):
    """A Markdown table (string) from a header list and rows of cells."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def percent(value):
    """A success rate entry: "–" for None, else 3 significant digits and "%"."""
    return "–" if value is None else f"{value:.3g}%"


def region_note(experiment):
    """A sentence for Tables 4-6: which examples the region-based rows judge, at which r."""
    radii = experiment.region_radii
    at = f"r = {radii['region']:g} ({experiment.radius_source})"
    if "region-paper" in radii:
        at += (f" and, to compare with the paper's setting, at the paper's r = "
               f"{radii['region-paper']:g} (same m, seed and early stopping)")
    return (f"Region-based rows judge the point classifier's examples (transferred, as in the "
            f"paper) at {at}; m = {experiment.profile.num_samples}, early-stopped voting.")


def sample_sizes(cells):
    """"N benign images (E examples)" for a row of cells; where the cells of
    the row differ in sample, each size names its columns."""
    groups = {}
    for column, got in cells.items():
        groups.setdefault((got["images"], got["examples"]), []).append(column)
    keys = sorted(groups, reverse=True)
    size = "{} benign images ({} examples)".format
    if len(keys) == 1:
        return size(*keys[0])
    return " and ".join(f"{size(*key)} for {', '.join(groups[key])}" for key in keys)


def render(title, columns, measured, paper, note="", names=None):
    """Markdown of a table of cells.

    Args:
        title: heading line.
        columns: attack names, in order.
        measured: {classifier: {column: cell}} (missing cells print "not run").
        paper: {classifier: {column: (SR %, noise)}} or None.
        note: a paragraph printed under the table.
        names: {classifier: row name}, in row order (default `CLASSIFIER_NAMES`).
    """
    names = names or CLASSIFIER_NAMES
    head = "| classifier | " + " | ".join(f"{c} SR | {c} noise" for c in columns) + " |"
    lines = [f"### {title}", "", "Each entry: measured (paper).", "", head,
             "|---" * (1 + 2 * len(columns)) + "|"]
    for classifier, name in names.items():
        if classifier not in measured and not (paper and classifier in paper):
            continue
        row = [name]
        for column in columns:
            got = measured.get(classifier, {}).get(column)
            ref = (paper or {}).get(classifier, {}).get(column)
            sr = percent(got["sr"]) if got else "not run"
            noise = number(got["noise"]) if got else "not run"
            if ref:
                sr, noise = f"{sr} ({percent(ref[0])})", f"{noise} ({number(ref[1])})"
            row += [sr, noise]
        lines.append("| " + " | ".join(row) + " |")
    sizes = [f"{names[classifier]}: {sample_sizes(cells)}"
             for classifier, cells in measured.items()]
    if sizes:
        lines += ["", "Measured on: " + "; ".join(sizes) + "."]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def finish(experiment, part, data, markdown, config, began):
    """Write <part>.json and <part>.md and the run record; return the markdown."""
    write_json(os.path.join(experiment.out, f"{part}.json"), plain(data))
    with open(os.path.join(experiment.out, f"{part}.md"), "w") as f:
        f.write(markdown)
    experiment.write_run_record(part, config, time.time() - began)
    experiment.log(markdown)
    return markdown


def finish_table(experiment, part, title, columns, paper_table, measured, note, began):
    """`render` a table of cells beside the paper's ``paper_table`` (its region-based values
    beside every region-based row), then `finish` the part."""
    from experiments.paper_values import paper_cells
    paper = paper_cells(paper_table, columns, experiment.dataset)
    if "region" in paper:
        paper.update({judge: paper["region"] for judge in experiment.region_radii})
    markdown = render(f"{title} ({experiment.dataset})", columns, measured, paper, note,
                      row_names(experiment))
    return finish(experiment, part, measured, markdown,
                  {"attacked": experiment.attacked,
                   "confidences": list(experiment.profile.confidences)}, began)


def load(out, part):
    """The data a part saved with `finish` (<out>/<part>.json), or None."""
    path = os.path.join(out, f"{part}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
