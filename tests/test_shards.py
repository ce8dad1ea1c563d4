"""Issue 15 item 4: ``--shard K/N`` splits a campaign across processes sharing ``--out``."""
import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from experiments.shards import Shard, key_offset, shard_type

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shards_partition_the_list_by_position_and_keep_prefixes():
    images = np.random.default_rng(0).permutation(10_000)[:23]
    for count in (1, 2, 3, 7, 30):
        shares = [Shard(k, count).of(images) for k in range(1, count + 1)]
        joined = np.concatenate(shares)
        assert sorted(joined.tolist()) == sorted(images.tolist())      # cover, disjoint
        assert max(map(len, shares)) - min(map(len, shares)) <= 1       # balanced
        for k, share in enumerate(shares):                               # order kept
            assert share.tolist() == images[k::count].tolist()
        # growing the list (--images 10 -> 23) keeps every image in its shard
        for k in range(1, count + 1):
            assert Shard(k, count).of(images[:10]).tolist() == \
                [i for i in Shard(k, count).of(images).tolist() if i in images[:10]]
    assert str(Shard(2, 5)) == "2/5"


def test_shards_split_whole_groups_of_consecutive_images():
    items = np.arange(100, 111)                       # 11 images, groups of 3
    assert Shard(1, 2).of(items, 3).tolist() == [100, 101, 102, 106, 107, 108]
    assert Shard(2, 2).of(items, 3).tolist() == [103, 104, 105, 109, 110]
    assert Shard(2, 2).takes([0, 3, 5, 6], group=3).tolist() == [False, True, True, False]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="group must be an integer >= 1"):
            Shard(1, 2).of(items, bad)


def test_each_records_key_deals_its_groups_from_its_own_shard():
    """Groups of one key go round robin from a shard fixed by the key, so a campaign of
    many attacks with 4 groups each keeps 8 shards busy."""
    items = np.arange(100)
    for key in ("point/CW-L2", "distilled/JSMA"):
        offset = key_offset(key)
        shares = [Shard(k, 3).of(items, 25, key) for k in (1, 2, 3)]
        assert sorted(np.concatenate(shares).tolist()) == items.tolist()
        for k, share in enumerate(shares):
            assert share.tolist() == [i for i in items if (i // 25 + offset) % 3 == k]
    assert key_offset("point/CW-L2") == key_offset("point/CW-L2") != key_offset("point/JSMA")
    keys = [f"{c}/{a}" for c in ("point", "advtrained", "distilled")
            for a in ("JSMA", "CW-L0", "FGSM", "IGSM", "CW-Linf", "CW-L2")]
    groups = {k: sum(len(Shard(k, 8).of(items, 25, key)) // 25 for key in keys)
              for k in range(1, 9)}
    assert sum(groups.values()) == 4 * len(keys) and min(groups.values()) > 0, groups
    with pytest.raises(ValueError, match="key must be a str"):
        key_offset(3)


@pytest.mark.parametrize("text", ["3/2", "0/2", "x", "1", "1/0", "1/2/3", "-1/2", "a/b", ""])
def test_shard_type_rejects_what_is_not_k_of_n(text):
    import argparse
    with pytest.raises(argparse.ArgumentTypeError, match="expected K/N with integers 1 <= K <= N"):
        shard_type(text)
    assert shard_type("2/3") == Shard(2, 3)
    with pytest.raises(ValueError, match="shard index must be an integer in 1..2"):
        Shard(3, 2)


@pytest.mark.parametrize("module", ["experiments.reproduce", "experiments.table4",
                                    "experiments.certify", "experiments.adaptive"])
@pytest.mark.parametrize("shard", ["3/2", "x"])
def test_every_experiment_cli_rejects_a_bad_shard_in_one_line(module, shard, capsys):
    import importlib
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_:
        main(["--shard", shard])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --shard: expected K/N")


def test_a_shard_that_attacks_nothing_is_refused_before_loading(capsys):
    from experiments import reproduce
    from models.cli import run_main
    with pytest.raises(SystemExit) as exit_:
        run_main(reproduce.main, ["--shard", "1/2", "--attacked", "none",
                                  "--data-dir", "/nonexistent"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: --shard 1/2 with --attacked none")


def _sample(images, shard, images_per_call=1):
    """An `Experiment` stand-in with just the sample, the shard and the profile's
    images_per_call (share() needs no more)."""
    from experiments.context import Experiment
    experiment = Experiment.__new__(Experiment)
    experiment.images, experiment.shard = np.asarray(images), shard
    experiment.profile = types.SimpleNamespace(images_per_call=images_per_call)
    return experiment


def test_experiment_share_splits_by_position_in_the_sample_even_for_a_subset():
    sample = [70, 3, 51, 9, 12]
    assert key_offset("") == 0
    assert _sample(sample, None).share([51, 70], "").tolist() == [51, 70]
    assert _sample(sample, Shard(1, 2)).share(sample, "").tolist() == [70, 51, 12]
    assert _sample(sample, Shard(2, 2)).share(sample, "").tolist() == [3, 9]
    # a subset (e.g. the sample's first images, or one image of a figure) keeps the split
    assert _sample(sample, Shard(2, 2)).share([9, 51, 70], "").tolist() == [9]
    with pytest.raises(ValueError, match=r"test images \[4\] are not in the run's sample"):
        _sample(sample, Shard(1, 2)).share([4, 3], "")
    # by the images attacked together (images_per_call), or another group
    assert _sample(sample, Shard(1, 2), 2).share(sample, "").tolist() == [70, 3, 12]
    assert _sample(sample, Shard(2, 2), 2).share([9, 51, 70], "").tolist() == [9, 51]
    assert _sample(sample, Shard(2, 2), 2).share(sample, "", group=3).tolist() == [9, 12]
    # and per records key
    for key in ("point/CW-L2", "point/JSMA"):
        assert _sample(sample, Shard(1, 2), 2).share(sample, key).tolist() == \
            Shard(1, 2).of(sample, 2, key).tolist()


def test_experiment_rejects_a_shard_that_is_not_a_shard():
    from experiments.context import Experiment
    with pytest.raises(ValueError, match="shard must be an experiments.shards.Shard"):
        Experiment("mnist", shard=(1, 2))


# A subprocess runs experiments.reproduce with the tiny test settings of test_experiments
# (the quick profile's code, tiny attacks) on 4 images attacked 2 at a time: of each
# attack's records, each shard gets one of the 2 groups.
RUNNER = textwrap.dedent("""
    import dataclasses, sys
    sys.path.insert(0, {tests!r})
    from test_experiments import TINY_ATTACKS, TINY_PROFILE
    from cw_attacks import registry
    from experiments import protocol, reproduce
    protocol.PROFILES["quick"] = dataclasses.replace(
        protocol.PROFILES["quick"], **{{**TINY_PROFILE, "images_per_call": 2}})
    for name, settings in TINY_ATTACKS.items():
        entry = registry.ATTACKS[name]
        registry.ATTACKS[name] = dataclasses.replace(entry, quick={{**entry.quick, **settings}})
    reproduce.main(sys.argv[1:])
""").format(tests=os.path.join(ROOT, "tests"))
PARTS = "table4,table5"
# Lines of REPORT.md that state when and how long, not what was measured.
TIMING_LINES = ("- Written ", "*Table 4 (targeted attacks): ", "*Table 5 (untargeted attacks): ")


def _reproduce(out, *options):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RC_TRACEBACK": "1"}
    return subprocess.Popen([sys.executable, "-c", RUNNER, "--dataset", "mnist", "--profile",
                             "quick", "--images", "4", "--parts", PARTS, "--out", str(out),
                             *options], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process):
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return output


def _records(out):
    """{(attack, test image): its record less the timing, and its adversarial images' bytes}."""
    got = {}
    directory = os.path.join(out, "attacks", "point")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".jsonl"):
            for line in open(os.path.join(directory, name)):
                key, record = json.loads(line)["key"], json.loads(line)["record"]
                record.pop("seconds")
                arrays = os.path.join(directory, name[:-len(".jsonl")], f"{key}.npz")
                if os.path.exists(arrays):
                    with np.load(arrays) as saved:
                        record["arrays"] = {k: saved[k].tobytes() for k in saved.files}
                got[name, key] = record
    return got


def _outputs(out):
    """The measured outputs of a run: part json and md, and REPORT.md less its timing lines."""
    got = {}
    for part in PARTS.split(","):
        with open(os.path.join(out, f"{part}.json")) as f:
            got[f"{part}.json"] = json.load(f)
        with open(os.path.join(out, f"{part}.md")) as f:
            got[f"{part}.md"] = f.read()
    with open(os.path.join(out, "REPORT.md")) as f:
        got["REPORT.md"] = [line for line in f if not line.startswith(TIMING_LINES)]
    return got


@pytest.mark.slow
def test_two_shard_processes_and_a_report_run_equal_one_process(tmp_path):
    """Two real processes --shard 1/2 and 2/2 on one --out, then --attacked none: the
    report and the parts' json and md equal a one-process run's (timing lines aside),
    and so does every recorded example.

    Shards split whole attack calls (images_per_call images): a batched attack's
    per-example arithmetic can change in its last bits with the batch (splitting single
    images gave DeepFool's mean L2 1.7326038 vs 1.7326036 and one IGSM example 2.1598 vs
    2.1575 L2), so splitting calls is what keeps the records the same."""
    sharded, single = tmp_path / "sharded", tmp_path / "single"
    shards = [_reproduce(sharded, "--shard", f"{k}/2") for k in (1, 2)]
    logs = [_finish(p) for p in shards]
    assert all("shard" in log and "done" in log for log in logs)
    # a shard writes records only: no part output, no report
    assert not any(name.endswith((".json", ".md")) for name in os.listdir(sharded)), \
        os.listdir(sharded)
    # each image's records were written once, by the shard it belongs to
    attacks = sharded / "attacks" / "point"
    for name in ("CW-L2", "JSMA", "DeepFool"):
        keys = [json.loads(line)["key"] for line in open(attacks / f"{name}.jsonl")]
        assert len(keys) == len(set(keys)) == 4, (name, keys)
    report = _finish(_reproduce(sharded, "--attacked", "none"))
    assert "s/image" not in report          # the report run attacked nothing
    _finish(_reproduce(single))
    assert _outputs(sharded) == _outputs(single)
    assert _records(sharded) == _records(single)


def test_the_report_command_takes_no_shard(capsys):
    from experiments import report
    with pytest.raises(SystemExit) as exit_:
        report.main(["--shard", "1/2"])
    assert exit_.value.code == 2 and "unrecognized arguments: --shard" in capsys.readouterr().err


def test_part_of_names_the_part_also_under_python_m(monkeypatch):
    import importlib.util

    from experiments import cli, table4
    assert cli.part_of(table4.run) == "table4"
    main = types.ModuleType("__main__")       # python -m experiments.table4
    main.__spec__ = importlib.util.find_spec("experiments.table4")
    monkeypatch.setitem(sys.modules, "__main__", main)
    run = types.FunctionType(table4.run.__code__, {}, "run")
    run.__module__ = "__main__"
    assert cli.part_of(run) == "table4"


def test_a_sharded_part_only_attacks_its_share_and_certify_splits_itself(monkeypatch):
    from experiments import cli
    calls = []
    monkeypatch.setattr(cli, "attack_share", lambda e, part: calls.append(("share", part)))

    def run(experiment):
        calls.append(("run", experiment.shard))

    cli.run_part(types.SimpleNamespace(shard=None), "table4", run)
    cli.run_part(types.SimpleNamespace(shard=Shard(1, 2)), "table4", run)
    cli.run_part(types.SimpleNamespace(shard=Shard(1, 2)), "certify", run)
    assert calls == [("run", None), ("share", "table4"), ("run", Shard(1, 2))]


def test_certify_shards_certify_their_groups_and_the_last_run_reads_them(tmp_path, tiny_cnn):
    """certify_run: shards 1/2 and 2/2 certify disjoint groups of batch_size images (and
    return nothing); the run without a shard certifies nothing more and equals a
    one-process run."""
    import dataclasses

    from experiments.certify import Settings, certify_run
    from rc_keras import RegionClassifier

    x = np.random.default_rng(1).random((9, 8, 8, 1)).astype(np.float32)
    data = types.SimpleNamespace(x_test=x, y_test=np.arange(9) % 10, sha256="tiny",
                                 record=lambda: {"sha256": "tiny"})
    settings = dataclasses.replace(Settings(images=5, num_samples=60, selection_samples=10),
                                   batch_size=2)
    images = np.array([7, 2, 5, 0, 3])
    rc = RegionClassifier(tiny_cnn, 0.3, seed=4, chunk_size=64)

    def run(out, shard, log):
        experiment = types.SimpleNamespace(data=data, out=str(out), shard=shard, log=log.append)
        return certify_run(experiment, rc, "weights", images, settings, "tiny-r0.3")

    logs = {k: [] for k in ("1/2", "2/2", "after", "single")}
    first = Shard(1, 2).of(images, 2, "certify/tiny-r0.3")    # whole groups: [7, 2], [5, 0], [3]
    assert len(first) in (2, 3) and first.tolist() in ([7, 2, 3], [5, 0])
    assert run(tmp_path / "a", Shard(1, 2), logs["1/2"]) == (None, None)
    assert logs["1/2"][-1].strip().startswith(f"tiny-r0.3: {len(first)}/5 images certified")
    assert run(tmp_path / "a", Shard(2, 2), logs["2/2"]) == (None, None)
    assert logs["2/2"][-1].strip().startswith("tiny-r0.3: 5/5")
    sharded, _ = run(tmp_path / "a", None, logs["after"])
    assert logs["after"] == []                                  # nothing left to certify
    single, _ = run(tmp_path / "b", None, logs["single"])
    for field in ("labels", "p_lower", "counts", "l1", "linf"):
        assert np.array_equal(getattr(sharded, field), getattr(single, field)), field
