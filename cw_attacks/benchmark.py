"""Throughput of the attacks on the shipped MNIST model (examples per second).

Speed (examples per second, wall clock, tracing included):

    python -m cw_attacks.benchmark            # reference defaults and the quick profile
    python -m cw_attacks.benchmark --quick    # quick profile only, fewer examples

Every attack in `ATTACKS` that exists runs batched on --examples targeted
examples (the first correctly classified test images x their 9 wrong
labels); those marked ``one_at_a_time`` also run with batch_size=1 on
--single examples. Adding an attack is one line in `ATTACKS`.

Success rates and noise under the paper's protocol (Table 4) are measured
by ``python -m experiments.table4``.
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
    "Entry", "module cls reference quick targeted one_at_a_time",
    defaults=({}, {}, True, False))

# name -> how to build and run it; `reference`/`quick` are constructor kwargs.
ATTACKS = {
    "CW-L2": Entry("cw_attacks.l2", "CarliniL2",
                   quick={"binary_search_steps": 5, "max_iterations": 1000}),
    "CW-L0": Entry("cw_attacks.l0", "CarliniL0", quick={"max_iterations": 100},
                   one_at_a_time=True),
    "CW-Linf": Entry("cw_attacks.linf", "CarliniLinf", quick={"max_iterations": 100},
                     one_at_a_time=True),
    "FGSM": Entry("cw_attacks.fgsm", "FGSM"),
    "IGSM": Entry("cw_attacks.igsm", "IGSM"),
    "JSMA": Entry("cw_attacks.jsma", "JSMA"),
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="quick profile only, fewer examples")
    parser.add_argument("--examples", type=int,
                        help="batched examples (default 100; 18 with --quick)")
    parser.add_argument("--single", type=int,
                        help="one-at-a-time examples (default 10; 4 with --quick)")
    parser.add_argument("--json", help="also write the speed rows to this JSON file")
    args = parser.parse_args(argv)

    from models import load_dataset, load_pretrained
    model, dataset = load_pretrained("mnist"), load_dataset("mnist")
    rows = speed(model, dataset, ["quick"] if args.quick else ["reference", "quick"],
                 args.examples or (18 if args.quick else 100),
                 args.single or (4 if args.quick else 10))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
