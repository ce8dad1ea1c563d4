"""The command line shared by every experiment part: ``--dataset --profile --images --data-dir``.

Every option is checked before any work starts, and a user error (a bad
option, a missing data directory, a corrupt shipped model, a read-only
``--out``) ends the run with one line ``error: ...`` and exit status 2
(`models.cli`).
"""
import argparse
import dataclasses

from experiments.context import Experiment
from experiments.protocol import POINT_CLASSIFIERS, PROFILES, get_profile, results_dir
from models.cli import ArgumentParser, check_writable_dir, positive_int, run_main
from rc_keras.radius import RADIUS_CHOICES


def progress(*values):
    """`print` that flushes, so a run's progress shows in a redirected log as it happens."""
    print(*values, flush=True)


def point_classifiers(text):
    """An argparse type: comma-separated names of `POINT_CLASSIFIERS`, or "none" -> ()."""
    if text == "none":
        return ()
    names = tuple(text.split(","))
    unknown = sorted(set(names) - set(POINT_CLASSIFIERS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown classifiers {unknown}; expected some of "
                                         f"{list(POINT_CLASSIFIERS)} or 'none'")
    return names


def parser(description):
    """An ArgumentParser with the options every part takes (add more before parsing)."""
    p = ArgumentParser(description=description)
    p.add_argument("--dataset", choices=("mnist", "cifar10"), default="mnist")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--images", type=positive_int, help="the first N images of the profile's draw")
    p.add_argument("--data-dir", help="folder with <dataset>.npz (default $RC_DATA_DIR)")
    p.add_argument("--attacked", type=point_classifiers,
                   help="comma-separated point classifiers to attack (default: the profile's), "
                        "or 'none'; the others are measured on the images their records cover")
    p.add_argument("--out", help="results directory (default experiments/results/"
                                 "<dataset>-<profile>)")
    p.add_argument("--radius", choices=RADIUS_CHOICES, default="learned",
                   help="RC radius: the learned one (rc_keras/radii/<dataset>.json; an error "
                        "if missing) or the paper's (default %(default)s)")
    return p


def experiment_from(args, log=progress):
    """The `Experiment` the parsed options describe; the results directory is checked
    writable (and created) before anything is loaded."""
    profile = get_profile(args.profile, args.images)
    if args.attacked is not None:
        profile = dataclasses.replace(profile, attacked=args.attacked)
    out = check_writable_dir(args.out or results_dir(args.dataset, profile))
    return Experiment(args.dataset, profile, data_dir=args.data_dir, out=out, log=log,
                      radius=args.radius)


def main_for(run, description, argv=None):
    """Parse the shared options and call ``run(experiment)``; user errors exit 2 in one line."""
    return run_main(lambda argv: run(experiment_from(parser(description).parse_args(argv))), argv)
