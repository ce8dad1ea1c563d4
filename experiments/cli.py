"""The command line shared by every experiment part: ``--dataset --profile --images --data-dir``.

Every option is checked before any work starts, and a user error (a bad
option, a missing data directory, a corrupt shipped model, a read-only
``--out``) ends the run with one line ``error: ...`` and exit status 2
(`models.cli`).

``--shard K/N`` (`experiments.shards`) splits a campaign across N processes
or machines sharing ``--out``: a sharded run attacks only its share of the
images the part's attack plan (`experiments.plan.PLANS`) names and writes
no table, figure or report, since it cannot measure images other shards
have not finished. Once all N have finished, one run without ``--shard``
and with ``--attacked none`` builds the outputs from the records; they are
the same as a one-process run's.
"""
import argparse
import dataclasses
import sys

from experiments.context import Experiment, records_key
from experiments.plan import PLANS, ensure_records
from experiments.protocol import POINT_CLASSIFIERS, PROFILES, get_profile, results_dir
from experiments.shards import shard_type
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


def parser(description, shard=True):
    """An ArgumentParser with the options every part takes (add more before parsing);
    ``shard=False`` leaves out ``--shard`` (a command that attacks nothing)."""
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
    if shard:
        p.add_argument("--shard", type=shard_type,
                       help="K/N: attack (or certify) only shard K of N of the images "
                            "(1 <= K <= N) and write no outputs; when all N shards are done, "
                            "a run with --attacked none and no --shard writes them")
        p.add_argument("--batch-size", type=positive_int,
                       help="examples each attack keeps in flight (default: the attack's, "
                            "100 for the CW attacks); speed only: records resume at another "
                            "batch size. On a GPU, raise it with --images-per-call")
        p.add_argument("--images-per-call", type=positive_int,
                       help="images each attack streams at once, 9 examples each (default: "
                            "the profile's, 25 in the paper profile); every shard of one "
                            "campaign must use the same")
    return p


def profile_from(args):
    """The `Profile` of the parsed options: --profile and --images, changed by --attacked,
    --batch-size and --images-per-call where given."""
    profile = get_profile(args.profile, args.images)
    for option in ("attacked", "batch_size", "images_per_call"):
        if getattr(args, option, None) is not None:
            profile = dataclasses.replace(profile, **{option: getattr(args, option)})
    return profile


def experiment_from(args, log=progress):
    """The `Experiment` the parsed options describe; the results directory is checked
    writable (and created) before anything is loaded."""
    profile = profile_from(args)
    shard = getattr(args, "shard", None)
    if shard is not None and not profile.attacked:
        raise ValueError(f"--shard {shard} with --attacked none: a shard only attacks; "
                         "build the report with --attacked none and no --shard")
    out = check_writable_dir(args.out or results_dir(args.dataset, profile))
    return Experiment(args.dataset, profile, data_dir=args.data_dir, out=out, log=log,
                      radius=args.radius, shard=shard)


def attack_share(experiment, part):
    """Attack the shard's share of every record the plan of ``part`` names (`PLANS`).

    A part's plan names all it attacks, so once every shard has run this,
    the part finds its records and attacks nothing. Writes no outputs.
    """
    for classifier, names in PLANS[part](experiment).items():
        for name in names:
            share = experiment.share(experiment.images, records_key(classifier, name))
            ensure_records(experiment, [name], [classifier], images=share)
    experiment.log(f"shard {experiment.shard}: {part}'s share of its records is done; once "
                   "every shard's is, build the outputs with --attacked none and no --shard")


def run_part(experiment, part, run):
    """``run(experiment)`` of the part ``part``, or in a sharded experiment `attack_share`.

    A part without a plan (certify: it splits its own draw) runs as usual
    and handles ``experiment.shard`` itself.
    """
    if experiment.shard is None or part not in PLANS:
        return run(experiment)
    return attack_share(experiment, part)


def part_of(run):
    """The part (`experiments.<part>`) whose ``run`` this is, also under ``python -m``."""
    module = sys.modules[run.__module__]
    spec = getattr(module, "__spec__", None)
    return (spec.name if spec is not None else run.__module__).rpartition(".")[2]


def main_for(run, description, argv=None):
    """Parse the shared options and `run_part`; user errors exit 2 in one line."""
    return run_main(lambda argv: run_part(
        experiment_from(parser(description).parse_args(argv)), part_of(run), run), argv)
