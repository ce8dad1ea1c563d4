"""CLI: learn the RC radius r with Algorithm 1 and draw the paper's Figure 4.

    python -m rc_keras.radius --dataset mnist [--out results/radius_mnist]

Writes to ``--out``:
    steps.jsonl   one JSON line per finished radius (resume: a re-run skips them)
    config.json   the settings the lines were computed with (a re-run with
                  different result-changing settings is refused)
    radius.json   the learned r, point accuracy, curve, and the run record
    figure4.png   RC and point validation accuracy versus r (Figure 4)
"""
import argparse
import json
import os

from models.data import file_sha256, load_dataset
from models.pretrained import WEIGHTS_DIR, load_pretrained
from models.records import JsonLines, run_record, write_json
from rc_keras.loading import load_base_model
from rc_keras.region import DEFAULT_CHUNK_SIZE, DEFAULT_ERROR_BOUND, DEFAULT_ROUND_SIZE
from rc_keras.search import learn_radius, radius_key

# Settings that change the numbers in steps.jsonl; the others (max radius,
# batch and chunk sizes) only change how far or how fast the search goes.
RESULT_SETTINGS = ("dataset", "model_sha256", "data", "limit", "num_samples", "r0",
                   "step", "seed", "early_stop", "error_bound", "round_size")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m rc_keras.radius", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=("mnist", "cifar10"))
    parser.add_argument("--model", help="model file (.keras, .h5, SavedModel directory); "
                                        "default: the shipped models/weights/<dataset>.keras")
    parser.add_argument("--data-dir", help="folder with <dataset>.npz (default $RC_DATA_DIR)")
    parser.add_argument("--out", help="output folder (default results/radius_<dataset>)")
    parser.add_argument("--limit", type=int, help="use only the first N validation images")
    parser.add_argument("--num-samples", type=int, default=1000, help="m (default 1000)")
    parser.add_argument("--r0", type=float, default=0.0)
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--max-radius", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--no-early-stop", dest="early_stop", action="store_false",
                        help="fixed m votes per image (the naive search)")
    parser.add_argument("--error-bound", type=float, default=DEFAULT_ERROR_BOUND,
                        help="per-image error bound of the sequential stopping rule")
    parser.add_argument("--round-size", type=int, default=DEFAULT_ROUND_SIZE)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--batch-size", type=int, default=1000)
    return parser.parse_args(argv)


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


def _check_config(path, config):
    """Write ``config`` to ``path``, or refuse to resume under different settings."""
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        changed = [k for k in RESULT_SETTINGS if old.get(k) != config.get(k)]
        if changed:
            raise SystemExit(f"{path}: these settings differ from the run being resumed: "
                             f"{', '.join(changed)}; use another --out")
    write_json(path, config)


def _resume_from_result(out, config, steps):
    """Seed an absent steps.jsonl from a radius.json made with the same settings.

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
            steps.append(radius_key(record["radius"]), record)


def main(argv=None):
    args = parse_args(argv)
    out = args.out or os.path.join("results", f"radius_{args.dataset}")
    os.makedirs(out, exist_ok=True)
    data = load_dataset(args.dataset, args.data_dir)
    x_val, y_val = data.x_val[:args.limit], data.y_val[:args.limit]
    if args.model:
        model, model_path = load_base_model(args.model), os.path.abspath(args.model)
    else:
        model = load_pretrained(args.dataset)
        model_path = os.path.join(WEIGHTS_DIR, f"{args.dataset}.keras")
    config = dict(vars(args), model=model_path, data=data.sha256, validation_images=len(x_val),
                  model_sha256=None if os.path.isdir(model_path) else file_sha256(model_path),
                  out=out)
    _check_config(os.path.join(out, "config.json"), config)
    steps = JsonLines(os.path.join(out, "steps.jsonl"))
    _resume_from_result(out, config, steps)
    print(f"{args.dataset}: {len(x_val):,} validation images, m = {args.num_samples}, "
          f"early stop {args.early_stop}; {len(steps.records)} radii done before", flush=True)

    computed = []  # radii searched in this run

    def on_radius(record):
        steps.append(radius_key(record["radius"]), record)
        computed.append(record["radius"])
        print(f"r = {record['radius']:.4f}: RC accuracy {record['accuracy']:.2%} "
              f"({record['correct']}/{len(x_val)}), "
              f"{record['forward_passes'] / len(x_val):.1f} passes/image, "
              f"{record['seconds']:.1f} s", flush=True)

    result = learn_radius(model, x_val, y_val, args.r0, args.step, args.num_samples,
                          max_radius=args.max_radius, seed=args.seed,
                          early_stop=args.early_stop, error_bound=args.error_bound,
                          chunk_size=args.chunk_size, round_size=args.round_size,
                          batch_size=args.batch_size, done=steps.records, on_radius=on_radius)
    print(f"point accuracy {result.point_accuracy:.2%}; learned r = {result.radius:.2f}"
          + (" (stopped at --max-radius)" if result.reached_max_radius else ""), flush=True)
    records = [steps.records[radius_key(r)] for r, _ in result.curve]
    path = os.path.join(out, "radius.json")
    if computed or not os.path.exists(path):  # else radius.json keeps the run that made it
        # forward_passes: the whole search's, also when earlier runs did some radii
        write_json(path, dict(result.to_dict(), steps=records,
                              forward_passes=sum(record["forward_passes"] for record in records),
                              run=run_record(config, args.seed, data.record())))
    plot_figure4(result, args.dataset, len(x_val), os.path.join(out, "figure4.png"))
    return result


if __name__ == "__main__":
    main()
