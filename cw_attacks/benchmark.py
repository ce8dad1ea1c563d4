"""Throughput of the attacks on the shipped MNIST model (examples per second).

Two parts (``--parts``, default ``speed``):

    python -m cw_attacks.benchmark            # speed: reference settings and the quick profile
    python -m cw_attacks.benchmark --quick    # quick profile only, fewer examples
    python -m cw_attacks.benchmark --quick --attacks FGSM DeepFool
    python -m cw_attacks.benchmark --parts engine   # the CW engine in a campaign

``engine`` measures, in one process and one run, on the same --images
correctly classified test images x their 9 wrong targets, T-CW-L2 at the
reference settings except ``max_iterations`` (--max-iterations, default 200
instead of 10,000 so the run takes minutes; early abort then checks every
20 iterations):

- raw: the model's batched forward + input-gradient steps at --batch-size,
  in a `tf.function` loop (gradient steps/s), timed before and after the
  campaigns (the mean is used: the machine may be shared);
- engine: one `Attack.attack_stream` over all examples, the batch refilled
  as examples retire (examples/s, and gradient steps/s = sum of
  ``iterations`` / seconds), and its rate over the engine calls made while
  the batch was full (before the pending examples ran out and it drained);
- today: the campaign before streaming, ``attack`` calls of
  --images-per-call images (45 examples) one after the other.

Both campaigns use one attack object, traced beforehand (tracing excluded);
their results agree example by example up to float round-off (an example
batched with others may, rarely, take another decision; counted). It prints the ratios engine/raw
(gradient steps/s) and engine/today (examples/s) and writes them with the
load average and versions to --json (default
experiments/results/cw_benchmark/engine.json).

``speed`` (examples per second, wall clock, tracing included): every
attack of the registry (`cw_attacks.registry.ATTACKS`, or those named by
--attacks) runs batched on --examples examples: the first correctly
classified test images x their 9 wrong labels, with those targets (targeted
attacks) or the true labels (untargeted ones). Entries marked
``one_at_a_time`` also run with batch_size=1 on --single examples.

Success rates and noise under the paper's protocol (Table 4) are measured
by ``python -m experiments.table4``. This module uses only the public API
(the registry, `cw_attacks.compose`, `models`), as any user script would,
except `_time_engine_calls`.
"""
import os
import time

import numpy as np
import tensorflow as tf

from cw_attacks.base import DEFAULT_BATCH_SIZE
from cw_attacks.compose import wrong_targets
from cw_attacks.cw_common import margin_loss
from cw_attacks.registry import ATTACKS, build
from cw_attacks.result import AttackResult
from models.cli import ArgumentParser, check_writable_dir, positive_int, run_main
from models.records import run_record, write_json

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PARTS = ("speed", "engine")
ENGINE_JSON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "experiments", "results", "cw_benchmark", "engine.json")


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


def raw_gradient_rate(model, x, labels, steps):
    """Gradient steps per second of ``model`` on the batch x (B, H, W, C), labels (B,) targets.

    Each step is what a CW iteration costs the model: logits, the margin
    loss and its gradient with respect to the input, ``steps`` times in a
    `tf.function` loop (the first, tracing, call is excluded).
    """
    @tf.function
    def run(x, labels, count):
        def body(i, x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(margin_loss(model(x, training=False), labels, True, 0.0))
            step = tape.gradient(loss, x)
            return i + 1, tf.clip_by_value(x - 1e-3 * tf.sign(step), 0.0, 1.0)
        return tf.while_loop(lambda i, x: i < count, body, (0, x))[1]

    x, labels = tf.constant(x), tf.constant(labels, tf.int32)
    run(x, labels, tf.constant(1))
    began = time.perf_counter()
    run(x, labels, tf.constant(steps)).numpy()
    return len(x) * steps / (time.perf_counter() - began)


def _time_engine_calls(attack):
    """Time each call of the CW engine's `tf.function`: a list that fills with
    (batch size, gradient steps, seconds) per call. The one private hook of this
    module: it tells the full-batch phase of a campaign from its final drain."""
    calls, advance = [], attack._advance

    def timed(state, min_ended):
        began = time.perf_counter()
        out = advance(state, min_ended)
        steps = int(np.sum(out["iterations"].numpy() - state["iterations"]))
        calls.append((len(state["iterations"]), steps, time.perf_counter() - began))
        return out

    attack._advance = timed
    return calls


def _campaign_row(results, seconds):
    steps = int(sum(int(r.iterations.sum()) for r in results))
    examples = sum(len(r) for r in results)
    return {"examples": examples, "seconds": round(seconds, 2),
            "examples_per_second": round(examples / seconds, 4), "gradient_steps": steps,
            "gradient_steps_per_second": round(steps / seconds, 1)}


def engine(model, dataset, images=20, batch_size=100, max_iterations=200, images_per_call=5,
           raw_steps=50, log=print):
    """The CW-L2 engine in a campaign vs the raw gradient rate and today's campaign (module doc).

    Returns a JSON-ready dict: config, load, the three rows and the two ratios.
    """
    indices = correct_test_images(model, dataset, images)
    index, targets = wrong_targets(dataset.y_test[indices])
    x = dataset.x_test[indices][index]
    attack = build("CW-L2", model, "reference", batch_size=batch_size,
                   max_iterations=max_iterations)
    config = {"attack": "CW-L2", "settings": "reference", "max_iterations": max_iterations,
              "images": images, "test_indices": indices.tolist(), "examples": len(x),
              "batch_size": batch_size, "images_per_call": images_per_call,
              "cpu_count": os.cpu_count(),
              "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
    load = {"before": list(os.getloadavg())}
    log(f"engine benchmark: {len(x)} examples ({images} images x 9 targets), CW-L2 reference "
        f"settings with max_iterations={max_iterations}, batch {batch_size}; load average "
        f"{load['before'][0]:.2f} on {os.cpu_count()} CPUs")
    attack.attack(x[:1], targets[:1])   # trace both shapes of the engine's tf.function
    attack.attack(x[:2], targets[:2])
    raw_before = raw_gradient_rate(model, x[:batch_size], targets[:batch_size], raw_steps)
    log(f"raw    {raw_before:8.0f} gradient steps/s at batch {min(batch_size, len(x))}")

    began, streamed, advance = time.perf_counter(), [], attack._advance
    calls = _time_engine_calls(attack)
    for rows, result in attack.attack_stream(x, targets):
        streamed.append((rows, result))
    engine_row = _campaign_row([r for _, r in streamed], time.perf_counter() - began)
    attack._advance = advance
    full = [(steps, seconds) for size, steps, seconds in calls if size == min(batch_size, len(x))]
    full_batch = {"calls": len(full), "of_calls": len(calls),
                  "gradient_steps": sum(steps for steps, _ in full),
                  "seconds": round(sum(seconds for _, seconds in full), 2)}
    full_batch["gradient_steps_per_second"] = round(
        full_batch["gradient_steps"] / max(full_batch["seconds"], 1e-9), 1)
    log(f"engine {engine_row['seconds']:8.1f} s {engine_row['examples_per_second']:8.3f} ex/s "
        f"{engine_row['gradient_steps_per_second']:8.0f} gradient steps/s; while the batch was "
        f"full: {full_batch['gradient_steps_per_second']:.0f} gradient steps/s "
        f"({full_batch['gradient_steps']} of {engine_row['gradient_steps']} steps)")

    began, today = time.perf_counter(), []
    per_call = 9 * images_per_call
    for start in range(0, len(x), per_call):
        today.append(attack.attack(x[start:start + per_call], targets[start:start + per_call]))
    today_row = _campaign_row(today, time.perf_counter() - began)
    log(f"today  {today_row['seconds']:8.1f} s {today_row['examples_per_second']:8.3f} ex/s "
        f"{today_row['gradient_steps_per_second']:8.0f} gradient steps/s")

    raw_after = raw_gradient_rate(model, x[:batch_size], targets[:batch_size], raw_steps)
    load["after"] = list(os.getloadavg())
    raw = (raw_before + raw_after) / 2
    order = np.argsort(np.concatenate([rows for rows, _ in streamed]))
    stream_result = AttackResult.concatenate([r for _, r in streamed])[order]
    today_result = AttackResult.concatenate(today)
    # The two runs batch each example with others: float round-off may flip a decision.
    differ = int(np.sum((stream_result.success != today_result.success)
                        | (stream_result.iterations != today_result.iterations)))
    agree = differ == 0
    l2_gap = float(np.max(np.abs(stream_result.l2 - today_result.l2)))
    report = {
        "config": config, "load_average": load,
        "raw": {"gradient_steps_per_second_before": round(raw_before, 1),
                "gradient_steps_per_second_after": round(raw_after, 1),
                "gradient_steps_per_second": round(raw, 1),
                "examples_per_second_at_engine_iterations": round(
                    raw * len(x) / engine_row["gradient_steps"], 4)},
        "engine": engine_row, "engine_full_batch": full_batch, "today": today_row,
        "engine_over_raw": round(engine_row["gradient_steps_per_second"] / raw, 3),
        "engine_full_batch_over_raw": round(full_batch["gradient_steps_per_second"] / raw, 3),
        "engine_over_today": round(engine_row["examples_per_second"]
                                   / today_row["examples_per_second"], 3),
        "same_decisions": agree, "examples_with_other_decisions": differ,
        "max_l2_difference": l2_gap,
        "success_rate": stream_result.success_rate, "mean_l2": stream_result.mean_noise("l2")}
    log(f"raw    {raw_after:8.0f} gradient steps/s after (mean {raw:.0f}); load average "
        f"{load['after'][0]:.2f}")
    log(f"engine/raw {report['engine_over_raw']:.3f} (gradient steps/s; while the batch was "
        f"full {report['engine_full_batch_over_raw']:.3f}), engine/today "
        f"{report['engine_over_today']:.3f} (examples/s); examples whose success or "
        f"iterations differ between the two: {differ}, max |L2 difference| {l2_gap:.2g}")
    return report


def main(argv=None):
    parser = ArgumentParser(prog="python -m cw_attacks.benchmark",
                            description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["speed"],
                        help="speed: every attack's examples/s (default); engine: the CW engine "
                        "in a campaign vs the raw gradient rate and 5-image calls")
    parser.add_argument("--quick", action="store_true", help="quick profile only, fewer examples")
    parser.add_argument("--attacks", nargs="+", choices=list(ATTACKS), default=list(ATTACKS),
                        metavar="NAME", help=f"attacks to time (default: all of {list(ATTACKS)})")
    parser.add_argument("--examples", type=positive_int,
                        help="batched examples (default 100; 18 with --quick)")
    parser.add_argument("--single", type=positive_int,
                        help="one-at-a-time examples (default 10; 4 with --quick)")
    parser.add_argument("--json", help="also write the speed rows to this JSON file (engine: "
                        "its report, default experiments/results/cw_benchmark/engine.json)")
    engine_args = parser.add_argument_group("engine part")
    engine_args.add_argument("--images", type=positive_int, default=20,
                             help="test images of the campaign, 9 examples each (default 20)")
    engine_args.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                             help=f"examples in flight (default {DEFAULT_BATCH_SIZE})")
    engine_args.add_argument("--max-iterations", type=positive_int, default=200,
                             help="CW-L2 iterations per value of c (default 200; reference "
                             "10000)")
    engine_args.add_argument("--images-per-call", type=positive_int, default=5,
                             help="images per call of today's campaign (default 5)")
    args = parser.parse_args(argv)
    if "speed" in args.parts and "engine" in args.parts and args.json:
        parser.error("--json names one file: give it with one part")
    json_path = args.json or (ENGINE_JSON if args.parts == ["engine"] else None)
    if json_path:
        check_writable_dir(os.path.dirname(json_path) or ".", "--json")

    from models import load_dataset, load_pretrained
    model, dataset = load_pretrained("mnist"), load_dataset("mnist")
    if "speed" in args.parts:
        rows = speed(model, dataset, ["quick"] if args.quick else ["reference", "quick"],
                     args.examples or (18 if args.quick else 100),
                     args.single or (4 if args.quick else 10), names=args.attacks)
        if json_path:
            write_json(json_path, rows)
    if "engine" in args.parts:
        report = engine(model, dataset, args.images, args.batch_size, args.max_iterations,
                        args.images_per_call)
        report = run_record(report.pop("config"), None, dataset.record()) | report
        write_json(json_path or ENGINE_JSON, report)


if __name__ == "__main__":
    run_main(main)
