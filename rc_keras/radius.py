"""Algorithm 1's learned radius r: where it lives, how to learn it (CLI and `run`), Figure 4.

    python -m rc_keras.radius --dataset mnist [--out results/radius_mnist] [--curve-to R]

The learned radius of a dataset lives in ONE file, `learned_radius_path`:
``rc_keras/radii/<dataset>.json`` (package data: the learned r, point
accuracy, curve, every step's record and the run record). A run on the
shipped model and the whole validation set writes it; everyone reads it
through `region_radius` (the experiments, the rc_keras benchmark). A
missing learned radius is an error, unless the caller chooses the paper's r
explicitly (``region_radius(dataset, "paper")``; ``--radius paper`` in the
experiments): never a silent fallback.

Writes to ``--out`` (default ``results/radius_<dataset>`` under the working
directory), a `models.store.RecordStore` "steps" and the figure:
    steps.jsonl   one JSON line per finished radius (resume: a re-run skips
                  them; a second process waits for the first and reuses them)
    steps.json    run record of the settings the lines were computed with (a
                  re-run with different result-changing settings is refused)
    radius.json   the learned r, point accuracy, curve, steps and run record
    figure4.png   RC and point validation accuracy versus r (Figure 4)
"""
import argparse
import json
import os
import shutil

from models.cli import (ArgumentParser, check_writable_dir, non_negative_float, non_negative_int,
                        positive_float, positive_int, run_main)
from models.data import file_sha256, load_dataset
from models.pretrained import WEIGHTS_DIR, load_pretrained
from models.records import run_record, write_json
from models.store import RecordStore
from rc_keras.loading import load_base_model
from rc_keras.region import DEFAULT_CHUNK_SIZE, DEFAULT_ERROR_BOUND, DEFAULT_ROUND_SIZE
from rc_keras.search import learn_radius, radius_key

# Settings that change the numbers in steps.jsonl; the others (max radius,
# batch and chunk sizes) only change how far or how fast the search goes.
RESULT_SETTINGS = ("dataset", "model_sha256", "data", "limit", "num_samples", "r0",
                   "step", "seed", "early_stop", "error_bound", "round_size")
RADII_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "radii")
PAPER_RADIUS = {"mnist": 0.3, "cifar10": 0.02}   # Cao & Gong, section 6.1
RADIUS_CHOICES = ("learned", "paper")


def learned_radius_path(dataset):
    """The file of the learned radius of ``dataset``: rc_keras/radii/<dataset>.json."""
    return os.path.join(RADII_DIR, f"{dataset}.json")


def region_radius(dataset, choice="learned"):
    """(r, source): the learned radius of ``dataset``, or the paper's if ``choice`` is "paper".

    Raises:
        ValueError: unknown ``choice`` or dataset.
        FileNotFoundError: no learned radius (the message says how to learn
            it, or to choose the paper's r explicitly).
    """
    if choice not in RADIUS_CHOICES:
        raise ValueError(f"unknown radius choice {choice!r}; expected one of {RADIUS_CHOICES}")
    if dataset not in PAPER_RADIUS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {tuple(PAPER_RADIUS)}")
    if choice == "paper":
        return PAPER_RADIUS[dataset], "the paper's value, chosen explicitly"
    path = learned_radius_path(dataset)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no learned radius for {dataset} ({path} is missing): learn it with "
            f"`python -m rc_keras.radius --dataset {dataset}`, or choose the paper's "
            f"r = {PAPER_RADIUS[dataset]} explicitly (--radius paper)")
    with open(path) as f:
        radius = float(json.load(f)["radius"])
    return radius, f"learned by Algorithm 1 ({os.path.relpath(path)})"


def parse_args(argv=None):
    parser = ArgumentParser(prog="python -m rc_keras.radius", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=("mnist", "cifar10"))
    parser.add_argument("--model", help="model file (.keras, .h5, SavedModel directory); "
                                        "default: the shipped models/weights/<dataset>.keras")
    parser.add_argument("--data-dir", help="folder with <dataset>.npz (default $RC_DATA_DIR)")
    parser.add_argument("--out", help="output folder (default results/radius_<dataset>)")
    parser.add_argument("--limit", type=positive_int, help="use only the first N validation images")
    parser.add_argument("--num-samples", type=positive_int, default=1000, help="m (default 1000)")
    parser.add_argument("--r0", type=non_negative_float, default=0.0)
    parser.add_argument("--step", type=positive_float, default=0.01)
    parser.add_argument("--max-radius", type=non_negative_float, default=1.0)
    parser.add_argument("--curve-to", type=non_negative_float,
                        help="go on evaluating the grid up to this radius after the search "
                             "stops (Figure 4's curve beyond r; the learned r is unchanged)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="noise seed (default 0)")
    parser.add_argument("--no-early-stop", dest="early_stop", action="store_false",
                        help="fixed m votes per image (the naive search)")
    parser.add_argument("--error-bound", type=non_negative_float, default=DEFAULT_ERROR_BOUND,
                        help="per-image error bound of the sequential stopping rule")
    parser.add_argument("--round-size", type=positive_int, default=DEFAULT_ROUND_SIZE)
    parser.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--batch-size", type=positive_int, default=1000)
    args = parser.parse_args(argv)
    if args.max_radius < args.r0:
        parser.error(f"--max-radius ({args.max_radius}) must be >= --r0 ({args.r0})")
    if args.error_bound >= 1:
        parser.error(f"--error-bound must lie in [0, 1), got {args.error_bound}")
    return args


def plot_figure4(result, dataset, num_images, path):
    """Figure 4: RC validation accuracy versus r, with the point accuracy and learned r."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    radii, accuracies = zip(*result.curve)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(radii, [100 * a for a in accuracies], "o-", ms=3, label="region-based")
    ax.axhline(100 * result.point_accuracy, color="gray", ls="--", label="point-based")
    ax.axvline(result.radius, color="red", ls=":", label=f"learned r = {result.radius:.2f}")
    ax.set_xlabel("length r")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{dataset.upper()}: {num_images:,} validation images")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _resume_from_result(out, config, steps):
    """Seed an empty "steps" store from a radius.json made with the same settings.

    radius.json keeps every step's record, so a committed result (without its
    steps.jsonl) resumes without recomputing anything.
    """
    path = os.path.join(out, "radius.json")
    if steps.records or not os.path.exists(path):
        return
    with open(path) as f:
        saved = json.load(f)
    old = saved.get("run", {}).get("config", {})
    if all(old.get(k) == config.get(k) for k in RESULT_SETTINGS):
        for record in saved.get("steps", []):
            steps.put(radius_key(record["radius"]), record)


def run(dataset, model=None, out=None, limit=None, num_samples=1000, r0=0.0, step=0.01,
        max_radius=1.0, seed=0, early_stop=True, error_bound=DEFAULT_ERROR_BOUND,
        round_size=DEFAULT_ROUND_SIZE, chunk_size=DEFAULT_CHUNK_SIZE, batch_size=1000,
        data_dir=None, log=print, curve_to=None):
    """Learn r (resuming ``out``), write radius.json and figure4.png; returns (result, passes).

    Args:
        dataset: "mnist" or "cifar10".
        model: model file (.keras, .h5, SavedModel directory); None: the
            shipped ``models/weights/<dataset>.keras``.
        out: folder of the run (default ``results/radius_<dataset>`` under
            the working directory).
        limit: use only the first ``limit`` validation images (None: all).
        the others: as `rc_keras.search.learn_radius`.

    Returns:
        (`RadiusSearch`, forward passes of the base model over the whole
        search, including radii computed by earlier runs). A run on the
        shipped model and every validation image also writes the dataset's
        learned radius (`learned_radius_path`).
    """
    out = check_writable_dir(out or os.path.join("results", f"radius_{dataset}"))
    data = load_dataset(dataset, data_dir)
    x_val, y_val = data.x_val[:limit], data.y_val[:limit]
    if model:
        base, model_path = load_base_model(model), os.path.abspath(model)
    else:
        base = load_pretrained(dataset)
        model_path = os.path.join(WEIGHTS_DIR, f"{dataset}.keras")
    config = dict(dataset=dataset, model=model_path, data_dir=data_dir, out=out, limit=limit,
                  num_samples=num_samples, r0=r0, step=step, max_radius=max_radius,
                  curve_to=curve_to, seed=seed,
                  early_stop=early_stop, error_bound=error_bound, round_size=round_size,
                  chunk_size=chunk_size, batch_size=batch_size, data=data.sha256,
                  validation_images=len(x_val),
                  model_sha256=None if os.path.isdir(model_path) else file_sha256(model_path))
    steps = RecordStore(out, "steps", config, seed, data.record(), keys=RESULT_SETTINGS)
    computed = []  # radii searched in this run

    def on_radius(record):
        steps.put(radius_key(record["radius"]), record)
        computed.append(record["radius"])
        log(f"r = {record['radius']:.4f}: RC accuracy {record['accuracy']:.2%} "
            f"({record['correct']}/{len(x_val)}), "
            f"{record['forward_passes'] / len(x_val):.1f} passes/image, "
            f"{record['seconds']:.1f} s")

    with steps.writing():  # a second process on ``out`` waits, then reuses these radii
        _resume_from_result(out, config, steps)
        log(f"{dataset}: {len(x_val):,} validation images, m = {num_samples}, "
            f"early stop {early_stop}; {len(steps.records)} radii done before")
        result = learn_radius(base, x_val, y_val, r0, step, num_samples, max_radius=max_radius,
                              seed=seed, early_stop=early_stop, error_bound=error_bound,
                              chunk_size=chunk_size, round_size=round_size,
                              batch_size=batch_size, done=steps.records, on_radius=on_radius,
                              curve_to=curve_to)
    log(f"point accuracy {result.point_accuracy:.2%}; learned r = {result.radius:.2f}"
        + (" (stopped at --max-radius)" if result.reached_max_radius else ""))
    records = [steps.records[radius_key(r)] for r, _ in result.curve]
    passes = sum(record["forward_passes"] for record in records)
    path = os.path.join(out, "radius.json")
    if computed or not os.path.exists(path):  # else radius.json keeps the run that made it
        # forward_passes: the whole search's, also when earlier runs did some radii
        write_json(path, dict(result.to_dict(), steps=records, forward_passes=passes,
                              run=run_record(config, seed, data.record())))
    if not model and limit is None:  # the shipped model on every validation image
        learned = learned_radius_path(dataset)
        if computed or not os.path.exists(learned):
            os.makedirs(RADII_DIR, exist_ok=True)
            shutil.copyfile(path, learned)
            log(f"the learned radius of {dataset}: {os.path.relpath(learned)}")
    plot_figure4(result, dataset, len(x_val), os.path.join(out, "figure4.png"))
    return result, passes


def main(argv=None):
    """The CLI: parse the arguments and `run`; returns run's (result, passes)."""
    args = vars(parse_args(argv))
    return run(**args, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    run_main(main)
