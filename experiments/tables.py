"""Measured cells and their Markdown rendering beside the paper's values,
and what every part writes when it finishes (`finish`).

A cell is a dict ``{"sr": success rate (%), "noise": mean noise of the
successes (None if none), "examples": count, "images": benign images}``.
Tables are rendered in the paper's layout: one row per classifier, an SR
and a Noise column per attack, each entry "measured (paper)".
"""
import json
import os
import time

import numpy as np

from models.records import write_json

CLASSIFIER_NAMES = {"point": "Point-based", "advtrained": "Adversarial training",
                    "distilled": "Distillation", "region": "Region-based"}


def cell(result, norm, images):
    """The cell of an `AttackResult`: SR over all examples, mean ``norm`` over the successes."""
    noise = result.mean_noise(norm)
    return {"sr": 100.0 * result.success_rate, "noise": None if np.isnan(noise) else noise,
            "examples": len(result), "images": int(images)}


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


def render(title, columns, measured, paper, note=""):
    """Markdown of a table of cells.

    Args:
        title: heading line.
        columns: attack names, in order.
        measured: {classifier: {column: cell}} (missing cells print "not run").
        paper: {classifier: {column: (SR %, noise)}} or None.
        note: a paragraph printed under the table.
    """
    head = "| classifier | " + " | ".join(f"{c} SR | {c} noise" for c in columns) + " |"
    lines = [f"### {title}", "", "Each entry: measured (paper).", "", head,
             "|---" * (1 + 2 * len(columns)) + "|"]
    for classifier, name in CLASSIFIER_NAMES.items():
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
    sizes = [f"{CLASSIFIER_NAMES[classifier]}: {sample_sizes(cells)}"
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
    """`render` a table of cells beside the paper's ``paper_table``, then `finish` the part."""
    from experiments.paper_values import paper_cells
    markdown = render(f"{title} ({experiment.dataset})", columns, measured,
                      paper_cells(paper_table, columns, experiment.dataset), note)
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
