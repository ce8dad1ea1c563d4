"""The command line shared by every experiment part: ``--dataset --profile --images --data-dir``."""
import argparse
import dataclasses

from experiments.context import Experiment
from experiments.protocol import POINT_CLASSIFIERS, PROFILES, get_profile


def progress(*values):
    """`print` that flushes, so a run's progress shows in a redirected log as it happens."""
    print(*values, flush=True)


def parser(description):
    """An ArgumentParser with the options every part takes (add more before parsing)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", choices=("mnist", "cifar10"), default="mnist")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--images", type=int, help="the first N images of the profile's draw")
    p.add_argument("--data-dir", help="folder with <dataset>.npz (default $RC_DATA_DIR)")
    p.add_argument("--attacked", help="comma-separated point classifiers to attack (default: "
                                      "the profile's), or 'none'; the others are measured on "
                                      "the images their records cover")
    p.add_argument("--out", help="results directory (default experiments/results/"
                                 "<dataset>-<profile>)")
    return p


def experiment_from(args, log=progress):
    profile = get_profile(args.profile, args.images)
    if args.attacked:
        attacked = () if args.attacked == "none" else tuple(args.attacked.split(","))
        unknown = sorted(set(attacked) - set(POINT_CLASSIFIERS))
        if unknown:
            raise SystemExit(f"--attacked: unknown classifiers {unknown}; "
                             f"expected some of {list(POINT_CLASSIFIERS)}")
        profile = dataclasses.replace(profile, attacked=attacked)
    return Experiment(args.dataset, profile, data_dir=args.data_dir, out=args.out, log=log)


def main_for(run, description, argv=None):
    """Parse the shared options and call ``run(experiment)``."""
    return run(experiment_from(parser(description).parse_args(argv)))
