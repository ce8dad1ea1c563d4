"""Throughput of the attacks on the shipped MNIST model, and the CW rows of the paper's table.

Speed (examples per second, wall clock, tracing included):

    python -m cw_attacks.benchmark            # reference defaults and the quick profile
    python -m cw_attacks.benchmark --quick    # quick profile only, fewer examples

Every attack in `ATTACKS` that exists runs batched on --examples targeted
examples (the first correctly classified test images x their 9 wrong
labels); those marked ``one_at_a_time`` also run with batch_size=1 on
--single examples. Adding an attack is one line in `ATTACKS`.

Success rate and noise (paper Table 4, point-based row), one image (its 9
targets) at a time, resumable, a summary rewritten after every image:

    python -m cw_attacks.benchmark --table CW-L2 --images 20 \\
        --out experiments/results/cw_mnist_table
"""
import argparse
import collections
import importlib
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

Entry = collections.namedtuple(
    "Entry", "module cls reference quick targeted one_at_a_time paper",
    defaults=({}, {}, True, False, None))

# name -> how to build and run it; `reference`/`quick` are constructor kwargs;
# `paper`: (SR %, mean noise) of the paper's Table 4, point-based row, MNIST.
ATTACKS = {
    "CW-L2": Entry("cw_attacks.l2", "CarliniL2",
                   quick={"binary_search_steps": 5, "max_iterations": 1000}, paper=(100, 2.01)),
    "CW-L0": Entry("cw_attacks.l0", "CarliniL0", quick={"max_iterations": 100},
                   one_at_a_time=True, paper=(100, 18.8)),
    "CW-Linf": Entry("cw_attacks.linf", "CarliniLinf", quick={"max_iterations": 100},
                     one_at_a_time=True, paper=(100, 0.188)),
    "FGSM": Entry("cw_attacks.fgsm", "FGSM", paper=(38, 0.276)),
    "IGSM": Entry("cw_attacks.igsm", "IGSM", paper=(99.9, 0.183)),
    "JSMA": Entry("cw_attacks.jsma", "JSMA", paper=(100, 72.3)),
    "DeepFool": Entry("cw_attacks.deepfool", "DeepFool", targeted=False),
}
NORM = {"CW-L2": "l2", "CW-L0": "l0", "CW-Linf": "linf", "FGSM": "linf", "IGSM": "linf",
        "JSMA": "l0", "DeepFool": "l2"}


def build(name, model, profile, **overrides):
    """The attack `name` on `model` with the "reference" or "quick" parameters (+ overrides)."""
    entry = ATTACKS[name]
    cls = getattr(importlib.import_module(entry.module), entry.cls)
    kwargs = {**(entry.reference if profile == "reference" else {**entry.reference, **entry.quick}),
              **overrides}
    return cls(model, **kwargs)


def available(name):
    """Whether the module and class of `name` exist in this checkout."""
    entry = ATTACKS[name]
    try:
        return hasattr(importlib.import_module(entry.module), entry.cls)
    except ImportError:
        return False


def correct_test_images(model, dataset, count):
    """Indices (count,) of the first test images the model classifies correctly."""
    found = []
    for start in range(0, len(dataset.x_test), 500):
        logits = np.asarray(model(dataset.x_test[start:start + 500], training=False))
        found.extend(start + np.flatnonzero(logits.argmax(1) == dataset.y_test[start:start + 500]))
        if len(found) >= count:
            return np.asarray(found[:count])
    raise ValueError(f"only {len(found)} test images are classified correctly, {count} needed")


def targeted_examples(dataset, indices, num_classes=10):
    """Each image with each of its wrong labels, image-major: (x, targets, true labels, index)."""
    rows = [(i, t) for i in indices for t in range(num_classes) if t != dataset.y_test[i]]
    image = np.asarray([i for i, _ in rows])
    return (dataset.x_test[image], np.asarray([t for _, t in rows]), dataset.y_test[image], image)


def timed(attack, x, labels):
    began = time.perf_counter()
    result = attack.attack(x, labels)
    return result, time.perf_counter() - began


def speed(model, dataset, profiles, examples, single, log=print):
    """Examples per second of every available attack; returns a list of JSON-ready rows."""
    images = correct_test_images(model, dataset, -(-examples // 9))
    x, targets, true, _ = targeted_examples(dataset, images)
    x, targets, true = x[:examples], targets[:examples], true[:examples]
    rows = []
    for name, entry in ATTACKS.items():
        if not available(name):
            log(f"{name}: {entry.module}.{entry.cls} not in this checkout, skipped")
            continue
        labels = targets if entry.targeted else true
        for profile in profiles:
            runs = [("batched", {}, examples)]
            if entry.one_at_a_time:
                runs.append(("one at a time", {"batch_size": 1}, single))
            for mode, overrides, n in runs:
                result, seconds = timed(build(name, model, profile, **overrides), x[:n], labels[:n])
                row = {"attack": name, "profile": profile, "mode": mode, "examples": n,
                       "seconds": round(seconds, 2), "examples_per_second": round(n / seconds, 4),
                       "success_rate": result.success_rate,
                       "mean_noise": result.mean_noise(NORM[name]), "norm": NORM[name]}
                rows.append(row)
                log(f"{name:9s} {profile:9s} {mode:13s} n={n:4d} {seconds:8.1f} s "
                    f"{n / seconds:8.3f} ex/s  SR {result.success_rate:.3f}  "
                    f"mean {NORM[name]} {row['mean_noise']:.4g}")
    return rows


def table(model, dataset, name, images, out_dir, profile="reference", log=print):
    """Targeted SR and noise of attack `name` on the first `images` correct test images.

    Writes, under out_dir: ``<name>.jsonl`` (one record per image: its 9
    targets' success, l0, l2, linf, iterations and seconds; resumable),
    ``<name>-adversarial.npz`` and ``<name>-summary.json`` (rewritten after
    every image, so a run stopped early still has an exact summary of the
    images done).
    """
    from models.records import JsonLines, run_record, write_json
    from models.pretrained import pretrained_record
    os.makedirs(out_dir, exist_ok=True)
    log_file = JsonLines(os.path.join(out_dir, f"{name}.jsonl"))
    attack = build(name, model, profile)
    norm = NORM[name]
    run = run_record({"attack": name, "images": images, "profile": profile}, None, dataset.record())
    for index in correct_test_images(model, dataset, images):
        key = f"test-{index:05d}"
        if log_file.done(key):
            continue
        x, targets, _, _ = targeted_examples(dataset, [index])
        result, seconds = timed(attack, x, targets)
        log_file.append(key, {"test_index": int(index), "label": int(dataset.y_test[index]),
                              "targets": targets.tolist(), "seconds": seconds,
                              "success": result.success.tolist(), "l0": result.l0.tolist(),
                              "l2": result.l2.tolist(), "linf": result.linf.tolist(),
                              "iterations": result.iterations.tolist()})
        np.savez_compressed(os.path.join(out_dir, f"{name}-{key}.npz"),
                            adversarial=result.adversarial)
        records = list(log_file.records.values())
        success = np.concatenate([r["success"] for r in records])
        noise = np.concatenate([r[norm] for r in records])[success]
        summary = {"attack": name, "profile": profile, "norm": norm,
                   "parameters": {k: v for k, v in vars(attack).items()
                                  if not k.startswith("_") and isinstance(v, (bool, int, float))},
                   "images": len(records), "examples": int(len(success)),
                   "success_rate": float(success.mean()),
                   "mean_noise": float(noise.mean()) if len(noise) else None,
                   "wall_seconds": float(sum(r["seconds"] for r in records)),
                   "paper": dict(zip(("success_rate_percent", "mean_noise"),
                                     ATTACKS[name].paper or ())),
                   "model": pretrained_record("mnist"),
                   "run": run}
        write_json(os.path.join(out_dir, f"{name}-summary.json"), summary)
        log(f"{name}: {len(records)} images, {len(success)} examples, "
            f"SR {summary['success_rate']:.3f}, "
            f"mean {norm} {summary['mean_noise']}, {summary['wall_seconds']:.0f} s so far")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="quick profile only, fewer examples")
    parser.add_argument("--examples", type=int,
                        help="batched examples (default 100; 18 with --quick)")
    parser.add_argument("--single", type=int,
                        help="one-at-a-time examples (default 10; 4 with --quick)")
    parser.add_argument("--json", help="also write the speed rows to this JSON file")
    parser.add_argument("--table", choices=sorted(n for n, e in ATTACKS.items() if e.targeted),
                        help="measure the targeted SR and noise of this attack")
    parser.add_argument("--images", type=int, default=20, help="--table: test images (x 9 targets)")
    parser.add_argument("--profile", choices=("reference", "quick"), default="reference")
    parser.add_argument("--out", default=os.path.join("experiments", "results", "cw_mnist_table"))
    args = parser.parse_args(argv)

    from models import load_dataset, load_pretrained
    model, dataset = load_pretrained("mnist"), load_dataset("mnist")
    if args.table:
        table(model, dataset, args.table, args.images, args.out, args.profile)
        return
    rows = speed(model, dataset, ["quick"] if args.quick else ["reference", "quick"],
                 args.examples or (18 if args.quick else 100),
                 args.single or (4 if args.quick else 10))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
