"""Beyond the paper: certified accuracy of region-based classification versus radius.

``python -m experiments.certify --dataset mnist|cifar10 --profile quick|paper [--images N]``

Cohen et al.'s CERTIFY for RC's smoothed classifier (`RegionClassifier.certify`,
derivation in `rc_keras.certify`) on the first N images of a seeded uniform
draw of the whole test set (seed `IMAGE_SEED`; misclassified images count as
not certified). Base models: the shipped point network ("point") and, where
shipped, the region-trained one ``<dataset>-region`` ("region-trained",
``python -m models.train --region-radius R``). Radii r: the run's (``--radius``,
the learned one by default), the paper's, and a region-trained model's own
training R; r = 0 (a learned r can be 0) is skipped, since RC is then the
point classifier and certifies nothing. Per (model, r): certified accuracy versus the L1 and L∞ radius
(certify.png), the smoothed classifier's accuracy, the
fraction abstained, the median certified L1 radius (0 for an image abstained
or wrong) and the cost per image. ``--images N`` certifies N images.

Settings (`SETTINGS`): quick, 2 images, n = 500 estimation samples;
paper, 100 images, n = 10,000 (the profiles' image counts; ``--images 500``
for the issue's 500); both with n0 = 100 selection samples,
alpha = 0.001 and the profile's RC seed. Records: one `models.store.RecordStore`
per (model, r) under ``<out>/certify/``, one line per image (resumable, tied
to the weights, data and settings); certify.json, certify.md and
certify.run.json beside the other parts.
"""
import dataclasses
import os
import time

import numpy as np

from experiments.attack_records import AttackRecords
from experiments.cli import main_for
from experiments.protocol import IMAGE_SEED, PROFILES
from experiments.tables import finish, markdown_table
from models import load_pretrained
from models.pretrained import pretrained_record
from models.records import weights_sha256
from models.store import RecordStore
from rc_keras import RegionClassifier
from rc_keras.certify import Certificate, tv_bound
from rc_keras.radius import region_radius


@dataclasses.dataclass(frozen=True)
class Settings:
    """CERTIFY's settings of one profile."""

    images: int                  # certified images (the profile's count; --images N: N)
    num_samples: int             # n, estimation samples per image
    selection_samples: int = 100  # n0
    alpha: float = 0.001
    batch_size: int = 10          # images per certify call (the unit of resumption)


SETTINGS = {"quick": Settings(images=2, num_samples=500),
            "paper": Settings(images=100, num_samples=10_000)}
CURVE_POINTS = 41
# certified accuracy in the table at these L1 radii (R1 <= r / 2 wherever a pixel is 0 or 1)
TABLE_L1_RADII = {"mnist": (0.05, 0.1, 0.15, 0.2, 0.25), "cifar10": (0.0025, 0.005, 0.0075, 0.01)}
NORM_LABELS = {"l1": "L1", "linf": "L∞"}
FIELDS = ("labels", "p_lower", "counts", "selection_counts", "l1", "linf", "l2")


def certified_images(num_test, count, seed=IMAGE_SEED):
    """Test indices (count,): the first ``count`` of a seeded permutation of the test set."""
    if count > num_test:
        raise ValueError(f"images must be at most {num_test}, got {count}")
    return np.random.default_rng(seed).permutation(num_test)[:count]


def base_models(experiment):
    """{name: (Keras model, training radius R or None)}: point, and region-trained if shipped."""
    models = {"point": (experiment.models["point"], None)}
    name = f"{experiment.dataset}-region"
    try:
        models["region-trained"] = (load_pretrained(name),
                                    float(pretrained_record(name)["region_radius"]))
    except (FileNotFoundError, ValueError):
        experiment.log(f"{name} is not shipped: only the point network is certified")
    return models


def certify_run(experiment, rc, weights, images, settings, store_name):
    """`Certificate` of the RC ``rc`` on test ``images``, resuming its record store.

    A sharded run (``experiment.shard``) certifies only its share of
    ``images`` (in groups of ``settings.batch_size``) and returns (None, None).

    ``weights``: `models.records.weights_sha256` of ``rc.base_model`` (the
    records are tied to it, to the data, r, seed and the CERTIFY settings).
    """
    data, radius = experiment.data, rc.radius
    config = {"weights_sha256": weights, "data_sha256": data.sha256,
              "radius": radius, "num_samples": settings.num_samples,
              "selection_samples": settings.selection_samples, "alpha": settings.alpha,
              "seed": rc.seed, "chunk_size": rc.chunk_size}
    store = RecordStore(os.path.join(experiment.out, "certify"), store_name, config,
                        seed=rc.seed, data_record=data.record())
    share = images if experiment.shard is None else experiment.shard.of(
        images, settings.batch_size, f"certify/{store_name}")
    todo = [int(i) for i in share if str(int(i)) not in store]
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start:start + settings.batch_size]
        began = time.time()
        result = rc.certify(data.x_test[batch], settings.num_samples,
                            settings.selection_samples, settings.alpha, settings.batch_size)
        seconds = (time.time() - began) / len(batch)
        for row, index in enumerate(batch):
            store.put(str(index), {"label": int(data.y_test[index]), "seconds": seconds,
                                   **{f: getattr(result, f)[row].tolist() for f in FIELDS}})
        experiment.log(f"  {store_name}: {len(store)}/{len(images)} images certified, "
                       f"{seconds:.2f} s per image")
    if experiment.shard is not None:  # other shards' images may be pending
        return None, None
    records = [store.record(str(int(i))) for i in images]
    certificate = Certificate(radius=radius, alpha=settings.alpha, **{
        f: np.array([r[f] for r in records]) for f in FIELDS})
    return certificate, np.array([r["seconds"] for r in records])


def summary(certificate, y, seconds, table_radii):
    """The numbers of one (model, r): accuracy, abstentions, median L1 radius, cost, and
    the certified accuracy at the L1 radii ``table_radii``."""
    correct = certificate.labels == y
    return {"smoothed_accuracy": float(np.mean(correct)),
            "abstained": float(np.mean(certificate.abstained)),
            "median_l1": float(np.median(np.where(correct, certificate.l1, 0.0))),
            "median_linf": float(np.median(np.where(correct, certificate.linf, 0.0))),
            "max_l1": float(np.max(np.where(correct, certificate.l1, 0.0))),
            "certified_accuracy_l1": dict(zip(table_radii, certificate.certified_accuracy(
                y, table_radii, "l1").tolist())),
            "seconds_per_image": float(np.mean(seconds))}


def curve(certificate, y, norm):
    """[[radius, certified accuracy], ...] on a grid up to the largest certified radius."""
    top = max(float(np.max(certificate.radii(norm))), 1e-9)
    grid = np.linspace(0.0, top, CURVE_POINTS)
    return np.stack([grid, certificate.certified_accuracy(y, grid, norm)], axis=1).tolist()


def attacks_against_certificates(experiment, radius, certify):
    """Check the recorded attacks on RC at ``radius`` against its certificates.

    Reads every attack's records under ``<out>/attacks/region-r<r>/`` (made
    by `experiments.adaptive` on RC around the point network). A successful
    example x' of the benign x with `tv_bound` (x, x') >= 1/2 lies outside
    every certificate of x (a certificate needs it below p_lower - 1/2 < 1/2);
    the benign images of the others are certified (``certify``: images ->
    `Certificate`) and `Certificate.covers` tested.

    Returns:
        None without records, else {"attacks", "successes",
        "beyond_any_certificate", "checked", "inside_a_certificate"}; the
        last must be 0 (up to the alpha failure probability per image).
    """
    directory = os.path.join(experiment.out, "attacks", f"region-r{radius:g}")
    names = sorted(f[:-len(".jsonl")] for f in os.listdir(directory)
                   if f.endswith(".jsonl")) if os.path.isdir(directory) else []
    if not names:
        return None
    benign, examples = [], []
    for name in names:
        records = AttackRecords(directory, name)
        indices = [record["test_index"] for record in records.store.records.values()]
        result = records.result(indices)
        x = experiment.data.x_test[np.repeat(indices, len(result.success) // len(indices))]
        benign.append(x[result.success])
        examples.append(result.adversarial[result.success])
    benign, examples = np.concatenate(benign), np.concatenate(examples)
    near = tv_bound(benign, examples, radius) < 0.5
    inside = certify(benign[near]).covers(benign[near], examples[near]) if near.any() else []
    return {"attacks": names, "successes": len(benign),
            "beyond_any_certificate": int(np.sum(~near)), "checked": int(np.sum(near)),
            "inside_a_certificate": int(np.sum(inside))}


def plot(path, curves, title):
    """Certified accuracy (%) versus L1 and L∞ radius (two panels), one line per (model, r)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, (norm, label) in zip(axes, NORM_LABELS.items()):
        for name, points in curves[norm].items():
            points = np.array(points)
            ax.plot(points[:, 0], 100 * points[:, 1], drawstyle="steps-post", label=name,
                    linestyle="-" if name.startswith("point") else "--")
        ax.set(xlabel=f"{label} radius (pixels in [0, 1])", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("certified accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(experiment):
    """Certify every (base model, r); write certify.{png,json,md}; return the markdown."""
    began = time.time()
    settings = SETTINGS[experiment.profile.name]
    if experiment.profile.images != PROFILES[experiment.profile.name].images:  # --images N
        settings = dataclasses.replace(settings, images=experiment.profile.images)
    images = certified_images(len(experiment.data.y_test), settings.images)
    y = experiment.data.y_test[images]
    paper_r = region_radius(experiment.dataset, "paper")[0]
    results, curves = {}, {norm: {} for norm in NORM_LABELS}
    for model_name, (model, trained_r) in base_models(experiment).items():
        radii = [r for r in dict.fromkeys([experiment.radius, paper_r] + (
            [trained_r] if trained_r else [])) if r > 0]
        if experiment.radius == 0:  # Algorithm 1 may learn r = 0 (CIFAR-10 does)
            experiment.log("r = 0: RC is the point classifier and every certified radius is 0; "
                           "not certified")
        point_accuracy = float(np.mean(np.argmax(model.predict(
            experiment.data.x_test[images], verbose=0), axis=1) == y))
        # one RC per model, its radius set per r: the graph is traced once
        rc, weights = RegionClassifier(model, paper_r, seed=experiment.profile.rc_seed), \
            weights_sha256(model)
        for r in radii:
            rc.radius = r
            key = f"{model_name}, r = {r:g}"
            experiment.log(f"certifying {key} on {len(images)} images, "
                           f"n = {settings.num_samples:,}")
            certificate, seconds = certify_run(experiment, rc, weights, images, settings,
                                               f"{model_name}-r{r:g}")
            if certificate is None:
                continue
            results[key] = {"model": model_name, "radius": r, "trained_radius": trained_r,
                            "point_accuracy": point_accuracy,
                            **summary(certificate, y, seconds,
                                      TABLE_L1_RADII[experiment.dataset])}
            if model_name == "point":
                results[key]["attacks"] = attacks_against_certificates(
                    experiment, r, lambda x: rc.certify(
                        x, settings.num_samples, settings.selection_samples, settings.alpha,
                        settings.batch_size))
            for norm in curves:
                curves[norm][key] = curve(certificate, y, norm)
            results[key]["curves"] = {norm: curves[norm][key] for norm in curves}
    if experiment.shard is not None:
        experiment.log(f"shard {experiment.shard}: its share of the {len(images)} images is "
                       "certified; once every shard is, run certify without --shard")
        return None
    plot(os.path.join(experiment.out, "certify.png"), curves,
         f"{experiment.dataset}: certified accuracy of RC, {len(images)} test images, "
         f"n = {settings.num_samples:,}")
    rows = [[key, f"{100 * s['point_accuracy']:.1f}%", f"{100 * s['smoothed_accuracy']:.1f}%",
             f"{100 * s['abstained']:.1f}%", f"{s['median_l1']:.3f}", f"{s['median_linf']:.4f}",
             ", ".join(f"{100 * a:.0f}% @ {e:g}" for e, a in s["certified_accuracy_l1"].items()
                       if a > 0) or "–", f"{s['seconds_per_image']:.2f} s"]
            for key, s in results.items()]
    lines = [f"## Beyond the paper: certified robustness ({experiment.dataset})", "",
             f"CERTIFY (Cohen et al. 2019) for RC's smoothed classifier, sound for the paper's "
             f"clipped hypercube (derivation in `rc_keras/certify.py`): n0 = "
             f"{settings.selection_samples} selection samples, n = {settings.num_samples:,} "
             f"estimation samples, alpha = {settings.alpha}, on {len(images)} test images drawn "
             f"uniformly (seed {IMAGE_SEED}). The run's r: {experiment.radius:g} "
             f"({experiment.radius_source}); the paper's r: {paper_r:g}.", "",
             "![certified accuracy versus the L1 and the L∞ radius](certify.png)", "",
             markdown_table(["base model, r", "point acc.", "smoothed acc.", "abstained",
                             "median L1 radius", "median L∞ radius",
                             "certified acc. @ L1 radius", "cost per image"], rows), "",
             "Median radii count an abstained or wrong image as 0. A radius R certifies "
             "every perturbation of norm < R (with probability >= 1 - alpha per image) for "
             "the smoothed classifier, which RC's m-sample vote estimates.", ""]
    for key, s in results.items():
        check = s.get("attacks")
        lines += [f"Attacks on RC ({key}) against the certificates: no records under "
                  f"attacks/region-r{s['radius']:g}." if check is None else
                  f"Attacks on RC ({key}) against the certificates "
                  f"({', '.join(check['attacks'])}): "
                  f"{check['successes']} successful examples; {check['beyond_any_certificate']} "
                  f"lie beyond any certificate (TV bound >= 1/2), {check['checked']} checked "
                  f"against CERTIFY of their benign image, {check['inside_a_certificate']} "
                  "inside a certificate.", ""] if s["model"] == "point" else []
    return finish(experiment, "certify", results, "\n".join(lines),
                  {"certify": dataclasses.asdict(settings), "certified_images": images.tolist()},
                  began)


def main(argv=None):
    main_for(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
