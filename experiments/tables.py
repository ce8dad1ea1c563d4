"""Measured cells and their Markdown rendering beside the paper's values.

A cell is a dict ``{"sr": success rate (%), "noise": mean noise of the
successes (None if none), "examples": count, "images": benign images}``.
Tables are rendered in the paper's layout: one row per classifier, an SR
and a Noise column per attack, each entry "measured (paper)".
"""
import json
import os

import numpy as np

from models.records import write_json

CLASSIFIER_NAMES = {"point": "Point-based", "advtrained": "Adversarial training",
                    "distilled": "Distillation", "region": "Region-based"}


def cell(result, norm, images):
    """The cell of an `AttackResult`: SR over all examples, mean ``norm`` over the successes."""
    noise = result.mean_noise(norm)
    return {"sr": 100.0 * result.success_rate, "noise": None if np.isnan(noise) else noise,
            "examples": len(result), "images": int(images)}


def _number(value, digits=3):
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 100 else f"{value:.1f}"


def _sr(value):
    return "–" if value is None else f"{value:.3g}%"


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
            sr = _sr(got["sr"]) if got else "not run"
            noise = _number(got["noise"]) if got else "not run"
            if ref:
                sr, noise = f"{sr} ({_sr(ref[0])})", f"{noise} ({_number(ref[1])})"
            row += [sr, noise]
        lines.append("| " + " | ".join(row) + " |")
    sizes = sorted({(c["images"], c["examples"]) for cells in measured.values()
                    for c in cells.values()})
    if sizes:
        lines += ["", "Measured on " + "; ".join(f"{i} benign images ({e} examples)"
                                                  for i, e in sizes) + "."]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def save(out, part, measured, markdown):
    """Write <out>/<part>.json (the cells) and <out>/<part>.md (the rendering)."""
    write_json(os.path.join(out, f"{part}.json"), measured)
    with open(os.path.join(out, f"{part}.md"), "w") as f:
        f.write(markdown)


def load(out, part):
    """The cells saved by `save`, or None."""
    path = os.path.join(out, f"{part}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
