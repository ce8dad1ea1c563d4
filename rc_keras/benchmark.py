"""CLI: throughput of region-based classification, and what early stopping saves.

    python -m rc_keras.benchmark [--quick] [--datasets mnist cifar10] [--out FILE]

1. Throughput: sampled points classified per second by `RegionClassifier`
   (fixed m votes, fresh noise: the deployed defence) versus the base
   model's raw forward rate, a plain ``tf.function`` forward over pre-made
   batches of the size of RC's forward passes (n images x round_size), timed
   in the same run, alternating, median of the repeats. The ratio is the
   share of time RC spends in the base model (target >= 0.85).
2. Early stopping (MNIST): on the first ``--test-images`` test images at the
   radius r (``--radius``, default the learned r of MNIST,
   `rc_keras.radius.region_radius`; an error if none is learned),
   forward passes and labels of the early-stopped vote versus the fixed
   m = 1,000 vote over the same seeded points.

The shipped models are used when their files exist; otherwise freshly built
(untrained) networks of the same architecture, which cost the same compute.
"""
import argparse
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from models import build_cw_mnist, build_resnet, load_dataset, load_pretrained
from models.cli import (ArgumentParser, check_writable_dir, non_negative_float, positive_int,
                        run_main)
from models.records import run_record, write_json
from rc_keras.radius import region_radius
from rc_keras.region import DEFAULT_CHUNK_SIZE, DEFAULT_ROUND_SIZE, RegionClassifier



def parse_args(argv=None):
    parser = ArgumentParser(prog="python -m rc_keras.benchmark", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="m = 128, 2 repeats, 200 test images (a smoke run)")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"],
                        choices=["mnist", "cifar10"])
    parser.add_argument("--parts", nargs="+", default=["throughput", "early_stop"],
                        choices=["throughput", "early_stop"],
                        help="what to measure (early_stop: MNIST only)")
    parser.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--num-samples", type=positive_int, default=1000,
                        help="m for the throughput test (default 1000)")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--test-images", type=positive_int, default=1000)
    parser.add_argument("--radius", type=non_negative_float, help="MNIST radius for the early-stop test")
    parser.add_argument("--out", default=os.path.join("results", "benchmark_rc.json"))
    args = parser.parse_args(argv)
    if args.chunk_size < DEFAULT_ROUND_SIZE:
        parser.error(f"--chunk-size must be >= the round size {DEFAULT_ROUND_SIZE} "
                     f"(the throughput test votes on chunk_size // {DEFAULT_ROUND_SIZE} images), "
                     f"got {args.chunk_size}")
    if args.quick:
        args.num_samples, args.repeats = 128, 2
        args.test_images = min(args.test_images, 200)
    return args


def base_model(name):
    """(model, source): the shipped network, else a fresh one of the same architecture."""
    try:
        return load_pretrained(name), f"models/weights/{name}.keras"
    except FileNotFoundError:
        build = build_cw_mnist if name == "mnist" else lambda: build_resnet(20)
        return build(), "untrained (weights file absent; same compute)"


def _seconds(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def throughput(model, images, num_samples, chunk_size, repeats):
    """Points/s of RC and of the raw forward pass, timed alternately; medians.

    RC votes on ``images`` (n, H, W, C) with fixed m votes and fresh noise;
    every RC forward pass has n * round_size <= ``chunk_size`` points, and
    the raw forward runs over pre-made batches of that same size.
    """
    rc = RegionClassifier(model, 0.1, num_samples, chunk_size=chunk_size)
    batch = len(images) * rc.round_size
    if batch > chunk_size:
        raise ValueError(f"{len(images)} images x round_size {rc.round_size} > chunk_size")
    forward = tf.function(lambda points: model(points, training=False))
    rng = np.random.default_rng(0)
    batches = [tf.constant(rng.uniform(size=(batch,) + images.shape[1:]), tf.float32)
               for _ in range(4)]
    points = len(images) * num_samples
    steps = -(-points // batch)

    def raw():
        for i in range(steps):
            out = forward(batches[i % len(batches)])
        out.numpy()

    rc.vote_counts(images)  # trace both before timing
    raw()
    rc_times, raw_times = [], []
    for _ in range(repeats):
        rc_times.append(_seconds(lambda: rc.vote_counts(images)))
        raw_times.append(_seconds(raw))
    rc_rate = points / statistics.median(rc_times)
    raw_rate = steps * batch / statistics.median(raw_times)
    return {"rc_points_per_s": rc_rate, "raw_points_per_s": raw_rate,
            "ratio": rc_rate / raw_rate, "rc_seconds": rc_times, "raw_seconds": raw_times,
            "points_per_repeat": points, "forward_batch": batch, "num_samples": num_samples}


def early_stop_savings(model, images, labels, radius, num_samples, seed=0):
    """Fixed-m versus early-stopped votes over the same seeded points."""
    results = {}
    for name, early in (("fixed", False), ("early_stop", True)):
        rc = RegionClassifier(model, radius, num_samples, seed=seed, early_stop=early)
        start = time.perf_counter()
        counts = rc.vote_counts(images)
        results[name] = {"seconds": time.perf_counter() - start, "passes": int(counts.sum()),
                         "labels": np.argmax(counts, axis=1), "error_bound": rc.error_bound}
    fixed, early = results["fixed"], results["early_stop"]
    return {"radius": radius, "images": len(images), "num_samples": num_samples, "seed": seed,
            "error_bound": early["error_bound"],
            "fixed_passes": fixed["passes"], "early_stop_passes": early["passes"],
            "pass_reduction": fixed["passes"] / early["passes"],
            "fixed_seconds": fixed["seconds"], "early_stop_seconds": early["seconds"],
            "labels_differing": int(np.sum(fixed["labels"] != early["labels"])),
            "same_label_share": float(np.mean(fixed["labels"] == early["labels"])),
            "fixed_accuracy": float(np.mean(fixed["labels"] == labels)),
            "early_stop_accuracy": float(np.mean(early["labels"] == labels))}


def _mnist_radius(args):
    if args.radius is not None:
        return args.radius, "--radius"
    return region_radius("mnist")


def main(argv=None):
    args = parse_args(argv)
    check_writable_dir(os.path.dirname(args.out) or ".", "--out")
    report = {"run": run_record(vars(args), seed=0), "throughput": {}}
    for name in args.datasets:
        model, source = base_model(name)
        data = load_dataset(name)
        if "throughput" in args.parts:
            images = data.x_test[:args.chunk_size // DEFAULT_ROUND_SIZE]
            result = throughput(model, images, args.num_samples, args.chunk_size, args.repeats)
            result["model"] = source
            report["throughput"][name] = result
            print(f"{name} ({source}): RC {result['rc_points_per_s']:,.0f} points/s, raw "
                  f"forward {result['raw_points_per_s']:,.0f} points/s (batches of "
                  f"{result['forward_batch']}), ratio {result['ratio']:.3f}", flush=True)
        if name == "mnist" and "early_stop" in args.parts:
            radius, where = _mnist_radius(args)
            n = args.test_images
            savings = early_stop_savings(model, data.x_test[:n], data.y_test[:n], radius,
                                         num_samples=1000)
            savings.update(model=source, radius_from=where, slice=f"x_test[:{n}]")
            report["early_stop"] = savings
            print(f"mnist early stop at r = {radius:.2f} ({where}), first {n} test images, "
                  f"m = 1000: {savings['fixed_passes']:,} -> {savings['early_stop_passes']:,} "
                  f"forward passes ({savings['pass_reduction']:.1f}x fewer), "
                  f"{savings['labels_differing']} labels differ "
                  f"({savings['same_label_share']:.2%} same); accuracy "
                  f"{savings['fixed_accuracy']:.2%} fixed, "
                  f"{savings['early_stop_accuracy']:.2%} early stop", flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    run_main(main)
