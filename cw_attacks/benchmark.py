"""Throughput of the attacks on the shipped MNIST model (examples per second).

Speed (examples per second, wall clock, tracing included):

    python -m cw_attacks.benchmark            # reference settings and the quick profile
    python -m cw_attacks.benchmark --quick    # quick profile only, fewer examples
    python -m cw_attacks.benchmark --quick --attacks FGSM DeepFool

Every attack of the registry (`cw_attacks.registry.ATTACKS`, or those named
by --attacks) runs batched on --examples examples: the first correctly
classified test images x their 9 wrong labels, with those targets (targeted
attacks) or the true labels (untargeted ones). Entries marked
``one_at_a_time`` also run with batch_size=1 on --single examples.

Success rates and noise under the paper's protocol (Table 4) are measured
by ``python -m experiments.table4``. This module uses only the public API
(the registry, `cw_attacks.compose`, `models`), as any user script would.
"""
import json
import os
import time

import numpy as np

from cw_attacks.compose import wrong_targets
from cw_attacks.registry import ATTACKS, build
from models.cli import ArgumentParser, check_writable_dir, positive_int, run_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def correct_test_images(model, dataset, count):
    """Indices (count,) of the first test images the model classifies correctly."""
    found = []
    for start in range(0, len(dataset.x_test), 500):
        logits = np.asarray(model(dataset.x_test[start:start + 500], training=False))
        found.extend(start + np.flatnonzero(logits.argmax(1) == dataset.y_test[start:start + 500]))
        if len(found) >= count:
            return np.asarray(found[:count])
    raise ValueError(f"only {len(found)} test images are classified correctly, {count} needed")


def timed(attack, x, labels):
    began = time.perf_counter()
    result = attack.attack(x, labels)
    return result, time.perf_counter() - began


def speed(model, dataset, profiles, examples, single, names=tuple(ATTACKS), log=print):
    """Examples per second of the attacks ``names``; returns a list of JSON-ready rows."""
    images = correct_test_images(model, dataset, -(-examples // 9))
    index, targets = wrong_targets(dataset.y_test[images])
    x, true = dataset.x_test[images][index][:examples], dataset.y_test[images][index][:examples]
    targets = targets[:examples]
    rows = []
    for name in names:
        entry = ATTACKS[name]
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
                       "mean_noise": result.mean_noise(entry.norm), "norm": entry.norm}
                rows.append(row)
                log(f"{name:9s} {profile:9s} {mode:13s} n={n:4d} {seconds:8.1f} s "
                    f"{n / seconds:8.3f} ex/s  SR {result.success_rate:.3f}  "
                    f"mean {entry.norm} {row['mean_noise']:.4g}")
    return rows


def main(argv=None):
    parser = ArgumentParser(prog="python -m cw_attacks.benchmark",
                            description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="quick profile only, fewer examples")
    parser.add_argument("--attacks", nargs="+", choices=list(ATTACKS), default=list(ATTACKS),
                        metavar="NAME", help=f"attacks to time (default: all of {list(ATTACKS)})")
    parser.add_argument("--examples", type=positive_int,
                        help="batched examples (default 100; 18 with --quick)")
    parser.add_argument("--single", type=positive_int,
                        help="one-at-a-time examples (default 10; 4 with --quick)")
    parser.add_argument("--json", help="also write the speed rows to this JSON file")
    args = parser.parse_args(argv)
    if args.json:
        check_writable_dir(os.path.dirname(args.json) or ".", "--json")

    from models import load_dataset, load_pretrained
    model, dataset = load_pretrained("mnist"), load_dataset("mnist")
    rows = speed(model, dataset, ["quick"] if args.quick else ["reference", "quick"],
                 args.examples or (18 if args.quick else 100),
                 args.single or (4 if args.quick else 10), names=args.attacks)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    run_main(main)
