"""The evaluation protocol of the paper (section 6), in one place per profile.

Profiles (`PROFILES`):
  paper  100 test images drawn uniformly at random among those the point
         classifier gets right (seed `IMAGE_SEED`), every wrong target of
         each (900 targeted examples), the attacks' reference settings,
         benign accuracy on the whole test set, m = 1,000 RC samples.
  quick  the same code on 2 images with the attacks' quick settings,
         attacking the point classifier only (and RC through it), and
         accuracy on the first 500 test images: minutes on a 2-core CPU.

The random draw is a fixed permutation of the test set filtered to the
correctly classified images, so the first n images of a draw of 100 are
themselves a uniform draw of n: a run cut short (``--images 20``) measures
a prefix of the paper's sample, and extending it later redoes nothing.

Classifiers: "point" (the shipped network), "advtrained" (adversarial
training with DeepFool), "distilled" (defensive distillation, T = 100) and
"region" (RC around the point network, judged on the point network's
adversarial examples, as the paper does).
"""
import dataclasses
import os

import numpy as np

from cw_attacks.compose import wrong_targets

RESULTS_DIR_ENV = "RC_RESULTS_DIR"


def default_results_root(package_dir, cwd, environ):
    """Where results go by default: ``$RC_RESULTS_DIR``; else, in a source checkout
    (``setup.py`` beside the package), ``experiments/results`` of that checkout,
    where the committed reports live; else (an installed copy, never written
    into) ``results/`` under the working directory.
    """
    if environ.get(RESULTS_DIR_ENV):
        return environ[RESULTS_DIR_ENV]
    if os.path.isfile(os.path.join(os.path.dirname(package_dir), "setup.py")):
        return os.path.join(package_dir, "results")
    return os.path.join(cwd, "results")


RESULTS_DIR = default_results_root(os.path.dirname(os.path.abspath(__file__)), os.getcwd(),
                                   os.environ)
IMAGE_SEED = 20171204
POINT_CLASSIFIERS = ("point", "advtrained", "distilled")
CLASSIFIERS = POINT_CLASSIFIERS + ("region",)
# Shipped weights per (dataset, point classifier); see models.pretrained.
WEIGHTS = {(dataset, name): dataset if name == "point" else f"{dataset}-{name}"
           for dataset in ("mnist", "cifar10") for name in POINT_CLASSIFIERS}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Every setting of an experiment run that is not the dataset."""

    name: str
    images: int                    # benign test images, each with its 9 wrong targets
    attack_settings: str           # "reference" or "quick" (cw_attacks.registry.build)
    accuracy_images: int = 0       # Table 3 on the first N test images (0: all of them)
    num_samples: int = 1000        # m, RC samples per input
    rc_seed: int = 0               # RC noise seed
    # Images per campaign step: each attack streams this many images at once (one
    # continuous batch; each image recorded when its examples finish), and a run
    # stopped early leaves every attack on the same images to within one step.
    images_per_call: int = 25
    # Examples in flight per attack (None: each attack's default). Changes speed only
    # (records resume at another; cw_attacks.base.Attack.results_depend_on_batch_size).
    batch_size: int = None
    attacked: tuple = ("point", "advtrained", "distilled")  # point classifiers attacked
    confidences: tuple = (0, 5, 10, 20, 30, 40)     # k of Figures 6 and 7 (T-CA-L2: all)
    alphas: tuple = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # Figure 8
    histogram_samples: int = 10000  # Figure 2
    radius_images: int = 0          # Figure 4: first N validation images (0: all of them)
    def with_images(self, images):
        """The same profile on the first ``images`` images of its draw."""
        return dataclasses.replace(self, images=int(images)) if images else self


PROFILES = {
    "paper": Profile("paper", images=100, attack_settings="reference"),
    "quick": Profile("quick", images=2, attack_settings="quick", accuracy_images=500,
                     images_per_call=2, attacked=("point",), confidences=(0, 20), alphas=(0.0, 1.0),
                     histogram_samples=1000, radius_images=100),
}


def get_profile(name, images=None):
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}")
    if images is not None and (int(images) != images or images < 1):
        raise ValueError(f"images must be a positive integer, got {images!r}")
    return PROFILES[name].with_images(images)


def results_dir(dataset, profile, root=RESULTS_DIR):
    """Where a run's records, tables and figures go: <root>/<dataset>-<profile>/."""
    return os.path.join(root, f"{dataset}-{profile.name}")


def select_images(point_labels, true_labels, count, seed=IMAGE_SEED):
    """Test indices (count,) drawn uniformly at random among the correctly classified.

    Args:
        point_labels, true_labels: (N,) int labels of the point classifier
            and the truth on the whole test set.
        count: images wanted.
        seed: seed of the permutation (recorded in every run).
    """
    order = np.random.default_rng(seed).permutation(len(true_labels))
    correct = order[np.asarray(point_labels)[order] == np.asarray(true_labels)[order]]
    if len(correct) < count:
        raise ValueError(f"only {len(correct)} test images are classified correctly, "
                         f"{count} needed")
    return correct[:count]


def targeted_examples(x, labels, num_classes=10):
    """Every image with each wrong target, image-major: (images (9N, ...), targets (9N,))."""
    index, targets = wrong_targets(labels, num_classes)
    return x[index], targets
