"""The command line shared by every experiment part: ``--dataset --profile --images --data-dir``."""
import argparse

from experiments.context import Experiment
from experiments.protocol import PROFILES


def parser(description):
    """An ArgumentParser with the options every part takes (add more before parsing)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", choices=("mnist", "cifar10"), default="mnist")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--images", type=int, help="the first N images of the profile's draw")
    p.add_argument("--data-dir", help="folder with <dataset>.npz (default $RC_DATA_DIR)")
    p.add_argument("--out", help="results directory (default experiments/results/"
                                 "<dataset>-<profile>)")
    return p


def experiment_from(args, log=print):
    return Experiment(args.dataset, args.profile, args.images, data_dir=args.data_dir,
                      out=args.out, log=log)


def main_for(run, description, argv=None):
    """Parse the shared options and call ``run(experiment)``."""
    return run(experiment_from(parser(description).parse_args(argv)))
