"""The README's main job: a quick end-to-end MNIST run on the shipped model.

``python -m experiments.quickstart`` (a few minutes on 2 CPU cores):

1. loads MNIST (offline from $RC_DATA_DIR) and the shipped CW MNIST network,
   and measures its test accuracy on all 10,000 test images;
2. wraps it in a `RegionClassifier` with the radius learned by Algorithm 1
   (the committed ``experiments/results/radius_mnist/radius.json``) and
   compares point and RC accuracy on a slice of the test set;
3. runs T-CW-L2 (quick settings) on the point classifier for a few correctly
   classified test images and all 9 targets, and reports its success rate
   against the point classifier and, transferred, against RC.
"""
import argparse
import dataclasses
import json
import os
import time

import numpy as np

from cw_attacks import CarliniL2, combine, wrong_targets
from models import load_dataset, load_pretrained
from rc_keras import RegionClassifier

RADIUS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results", "radius_mnist", "radius.json")


@dataclasses.dataclass
class QuickConfig:
    """Every setting of the quick run."""

    rc_images: int = 1000          # first N test images for point vs RC accuracy
    num_samples: int = 1000        # m, points voted per image
    attack_images: int = 10        # first N correctly classified test images, x 9 targets
    binary_search_steps: int = 5   # CW-L2 quick settings (reference: 9 and 10,000)
    max_iterations: int = 1000
    seed: int = 0                  # RC noise seed


def learned_radius(path=RADIUS_FILE):
    """The MNIST radius learned by ``python -m rc_keras.radius --dataset mnist``."""
    with open(path) as f:
        return float(json.load(f)["radius"])


def labels_of(model, x):
    return np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=1)


def run(config, radius=None, data_dir=None, log=print):
    """Run the three steps; returns a dict of the measured figures."""
    started = time.time()
    data = load_dataset("mnist", data_dir=data_dir)
    model = load_pretrained("mnist")
    radius = learned_radius() if radius is None else radius
    point_test = float(np.mean(labels_of(model, data.x_test) == data.y_test))
    log(f"point classifier: test accuracy {point_test:.2%} on {data.test_note}")

    rc = RegionClassifier(model, radius, config.num_samples, seed=config.seed, early_stop=True)
    x, y = data.x_test[:config.rc_images], data.y_test[:config.rc_images]
    point_slice = float(np.mean(labels_of(model, x) == y))
    rc_slice = float(np.mean(rc.predict_labels(x) == y))
    log(f"first {len(x):,} test images: point {point_slice:.2%}, region-based {rc_slice:.2%} "
        f"(r = {radius:g}, m = {config.num_samples}, early-stopped voting)")

    correct = np.flatnonzero(labels_of(model, data.x_test[:1000]) == data.y_test[:1000])
    images = correct[:config.attack_images]
    index, targets = wrong_targets(data.y_test[images])
    x_attack = data.x_test[images][index]
    attack = CarliniL2(model, binary_search_steps=config.binary_search_steps,
                       max_iterations=config.max_iterations)
    result = attack.attack(x_attack, targets)
    on_rc = combine([result], x_attack, targets, rc.predict_labels, "l2", targeted=True)
    log(f"T-CW-L2 ({config.binary_search_steps} x {config.max_iterations} iterations) on "
        f"{len(images)} images x 9 targets: success rate {result.success_rate:.1%} against the "
        f"point classifier (mean L2 {result.mean_noise('l2'):.3f}), "
        f"{on_rc.success_rate:.1%} against region-based (paper, reference settings: 100% vs 0.2%)")
    log(f"done in {time.time() - started:.0f} s")
    return {"point_test_accuracy": point_test, "point_slice_accuracy": point_slice,
            "rc_slice_accuracy": rc_slice, "radius": radius,
            "cw_l2_point_success_rate": result.success_rate,
            "cw_l2_rc_success_rate": on_rc.success_rate}


def main(argv=None):
    defaults = QuickConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist.npz (default $RC_DATA_DIR)")
    parser.add_argument("--radius", type=float, help="RC radius (default: the learned one)")
    for field in dataclasses.fields(QuickConfig):
        parser.add_argument("--" + field.name.replace("_", "-"), type=int,
                            default=getattr(defaults, field.name))
    args = parser.parse_args(argv)
    config = QuickConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(QuickConfig)})
    run(config, radius=args.radius, data_dir=args.data_dir)


if __name__ == "__main__":
    main()
