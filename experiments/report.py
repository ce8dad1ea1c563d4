"""The report of a run: every part's Markdown section in the paper's order.

``python -m experiments.report --dataset mnist --profile paper`` (re)writes
``<results dir>/REPORT.md`` from the parts written so far; parts not run yet
are listed as such. `experiments.reproduce` calls it after every part.
"""
import json
import os
import time

from experiments.cli import parser
from experiments.protocol import IMAGE_SEED, get_profile, results_dir
from models.cli import run_main
from models.records import package_versions

# part module (experiments.<name>) -> what it regenerates, in report order
PARTS = {
    "table3": "Table 3 (benign accuracy)",
    "figure4": "Figure 4 (RC accuracy versus r)",
    "table4": "Table 4 (targeted attacks)",
    "table5": "Table 5 (untargeted attacks)",
    "confidence": "Figures 6 and 7 (high-confidence CW-L2)",
    "table6": "Table 6 (combined attacks)",
    "histograms": "Figure 2 (label histograms in the hypercube)",
    "adapted": "Figures 8 and 9 (adapted attacks)",
    "examples": "Figures 1 and 5 (example grids)",
    "certify": "Beyond the paper: certified robustness",
}
# parts run only by their own command (too costly for every reproduction),
# included in the report once they have written their section
SEPARATE_PARTS = {
    "adaptive": "Beyond the paper: adaptive attacks (`python -m experiments.adaptive`)",
}


def _read(path):
    with open(path) as f:
        return f.read()


def write_report(dataset, profile, out=None):
    """Write and return the path of <out>/REPORT.md."""
    out = out or results_dir(dataset, profile)
    records = {}
    for part in PARTS:
        path = os.path.join(out, f"{part}.run.json")
        if os.path.exists(path):
            with open(path) as f:
                records[part] = json.load(f)
    latest = records[max(records, key=lambda p: records[p]["finished"])] if records else {}
    # the paper's sample is Table 4's; the parts beyond the paper state their own
    images = records.get("table4", latest).get("images", [])
    lines = [f"# Reproduction report: {dataset}, profile {profile.name!r}", "",
             "Paper: Cao & Gong, *Mitigating Evasion Attacks to Deep Neural Networks via "
             "Region-based Classification*, ACSAC 2017. Every entry is measured by this "
             "project; the paper's value is beside it in parentheses.", "",
             f"- Benign sample: {len(images)} test images drawn at random among those the "
             f"point classifier gets right (seed {IMAGE_SEED}; the paper uses 100), each with "
             "its 9 wrong targets. A row or cell whose records cover fewer images says so "
             "under its table; the parts beyond the paper state their own samples.",
             f"- Attack settings: {profile.attack_settings}; RC: r = {latest.get('radius')} "
             f"({latest.get('radius_source')}), m = {profile.num_samples}, early-stopped voting.",
             f"- Classifiers not available in this checkout: "
             f"{', '.join(latest.get('missing_classifiers', [])) or 'none'}.",
             f"- Data: {json.dumps(latest.get('data'))}",
             f"- Packages: {json.dumps(package_versions())}",
             f"- Written {time.strftime('%Y-%m-%d %H:%M %Z')}; per-part run records "
             f"(config, seed, versions, models, wall time) are the `*.run.json` files.", ""]
    for part, title in PARTS.items():
        path = os.path.join(out, f"{part}.md")
        if os.path.exists(path):
            seconds = records.get(part, {}).get("wall_seconds")
            lines += [_read(path).rstrip(), "",
                      f"*{title}: {seconds:.0f} s of wall time in the last run.*"
                      if seconds is not None else "", ""]
        else:
            lines += [f"### {title}", "", "Not run yet.", ""]
    for part, title in SEPARATE_PARTS.items():
        path = os.path.join(out, f"{part}.md")
        if os.path.exists(path):
            lines += [_read(path).rstrip(), "", f"*{title}.*", ""]
    path = os.path.join(out, "REPORT.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main(argv=None):
    args = parser(__doc__.splitlines()[0], shard=False).parse_args(argv)
    print(write_report(args.dataset, get_profile(args.profile, args.images), args.out))


if __name__ == "__main__":
    run_main(main)
