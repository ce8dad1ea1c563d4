"""Inputs that used to pass silently (issue 11, items 5, 7 and 10): Algorithm 1's
arguments and result, the CLIs' flags, empty batches, a non-writable --out, and
the data files a non-editable install must carry."""
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import cw_attacks.benchmark
import experiments.baselines
import experiments.cli
import experiments.table3
import models
import rc_keras.benchmark
import rc_keras.radius
from rc_keras import RegionClassifier, learn_radius
from rc_keras.search import radius_key
from toy_models import mean_threshold_problem

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- item 5: Algorithm 1 returns only radii it evaluated ------------------------------------

def test_learned_radius_is_always_one_the_search_evaluated():
    # RC keeps the accuracy for r <= 0.2 and loses it for r >= 0.3
    model, x, y = mean_threshold_problem()
    result = learn_radius(model, x, y, r0=0.1, step=0.25, num_samples=100)
    radii = [r for r, _ in result.curve]
    assert radii == pytest.approx([0.1, 0.35]) and result.radius == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"r0 = 0.9 already lowers the validation accuracy"):
        learn_radius(model, x, y, r0=0.9, step=1.0, num_samples=100)  # used to give r = -0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"r0": -0.1}, "r0 must be a finite number >= 0"),
    ({"r0": float("nan")}, "r0 must be a finite number >= 0"),
    ({"step": float("inf")}, "step must be a finite number > 0"),
    ({"max_radius": float("nan")}, "max_radius must be a finite number >= 0"),
    ({"step": 1e-13}, "step must be >= 1e-10"),  # used to loop "forever" at r = 0
], ids=["r0-negative", "r0-nan", "step-inf", "max_radius-nan", "step-1e-13"])
def test_learn_radius_rejects_bad_grids(kwargs, message):
    model, x, y = mean_threshold_problem()
    with pytest.raises(ValueError, match=message):
        learn_radius(model, x, y, num_samples=8, **kwargs)


def test_tiny_steps_evaluate_every_radius_under_its_own_key():
    """A resumable run keys its records by radius_key: with step 1e-7 the keys used to
    round to "0.000000", so 13 of 16 radii were "resumed" from r = 0's record."""
    model, x, y = mean_threshold_problem()
    done, computed = {}, []

    def record(step):  # what the radius CLI does with each new radius
        computed.append(step["radius"])
        done[radius_key(step["radius"])] = step

    result = learn_radius(model, x, y, step=1e-7, max_radius=1.5e-6, num_samples=8,
                          done=done, on_radius=record)
    assert len(computed) == len(result.curve) == 16 and len(done) == 16
    assert computed == sorted(set(computed))
    assert radius_key(0.03) == "0.030000"  # the keys of records written before stay the same


# ---- item 7: every CLI checks its flags before any work; errors are one line, exit 2 -------

def _no_work(*args, **kwargs):
    raise AssertionError("work started before the flags were checked")


@pytest.fixture
def refuse_work(monkeypatch):
    for module, name in [(rc_keras.radius, "load_dataset"), (rc_keras.benchmark, "base_model"),
                         (experiments.cli, "Experiment"), (experiments.baselines, "run"),
                         (models, "load_pretrained")]:
        monkeypatch.setattr(module, name, _no_work)


# Every flag of an argparse type from models.cli, with the values that type refuses.
REFUSED = {"int>=1": ("0", "-5"), "int>=0": ("-1",), "float>0": ("0", "nan", "inf"),
           "float>=0": ("-0.5", "nan")}
EXPECTED = {"int>=1": "an integer >= 1", "int>=0": "an integer >= 0",
            "float>0": "a finite number > 0", "float>=0": "a finite number >= 0"}
TYPED_FLAGS = {  # main: (the flags it needs, {type: its flags of that type})
    rc_keras.radius.main: ("--dataset mnist", {
        "int>=1": "--limit --num-samples --round-size --chunk-size --batch-size",
        "int>=0": "--seed", "float>0": "--step", "float>=0": "--r0 --max-radius --error-bound"}),
    rc_keras.benchmark.main: ("", {"int>=1": "--chunk-size --num-samples --repeats --test-images",
                                   "float>=0": "--radius"}),
    experiments.table3.main: ("--dataset mnist", {"int>=1": "--images --batch-size "
                                                            "--images-per-call"}),
    experiments.baselines.main: ("--dataset mnist --defence advtrained",
                                 {"int>=1": "--epochs --train-limit --chunk-size"}),
    cw_attacks.benchmark.main: ("", {"int>=1": "--examples --single --images --batch-size "
                                               "--max-iterations --images-per-call"}),
}
BAD_FLAGS = [(main, f"{needed} {flag} {value}", f"argument {flag}: expected {EXPECTED[kind]}")
             for main, (needed, typed) in TYPED_FLAGS.items()
             for kind, flags in typed.items() for flag in flags.split()
             for value in REFUSED[kind]] + [
    (rc_keras.radius.main, "--dataset mnist --r0 0.5 --max-radius 0.1",
     "--max-radius .* must be >= --r0"),
    (rc_keras.radius.main, "--dataset mnist --error-bound 1.5",
     r"--error-bound must lie in \[0, 1\)"),
    (rc_keras.benchmark.main, "--chunk-size 10", "--chunk-size must be >= the round size"),
    (experiments.table3.main, "--attacked point,pointt", r"unknown classifiers \['pointt'\]"),
    (experiments.baselines.main, "--dataset mnist --defence distilled --chunk-size 5",
     "advtrained only")]


@pytest.mark.parametrize("main, flags, message", BAD_FLAGS,
                         ids=[f"{m.__module__}:{f}" for m, f, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_errors_before_any_work(main, flags, message, refuse_work,
                                                       capsys):
    with pytest.raises(SystemExit) as exit_:
        main(flags.split())
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(message, err), err


@pytest.mark.parametrize("main, flags", [
    (rc_keras.radius.main, ["--dataset", "mnist", "--out"]),
    (rc_keras.benchmark.main, ["--out"]),
    (experiments.table3.main, ["--dataset", "mnist", "--out"]),
    (experiments.baselines.main, ["--dataset", "mnist", "--defence", "distilled", "--out"]),
], ids=["rc_keras.radius", "rc_keras.benchmark", "experiments.table3", "experiments.baselines"])
def test_an_out_that_cannot_be_written_fails_before_the_computing(main, flags, tmp_path,
                                                                  refuse_work, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # default folders (--work-dir) land here
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = str(blocker / ("x.json" if main is rc_keras.benchmark.main else "out"))
    from models.cli import run_main
    with pytest.raises(SystemExit) as exit_:
        run_main(main, flags + [out])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: --out ")


def _run_cli(*argv, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_errors_in_a_real_process_are_one_line_without_traceback(mnist, tiny_cnn, tmp_path):
    """A bad flag (argparse) and a corrupt model file (found after the data loads)."""
    bad_flag = _run_cli("rc_keras.radius", "--dataset", "mnist", "--limit", "-5", cwd=tmp_path)
    assert bad_flag.returncode == 2 and "Traceback" not in bad_flag.stderr
    assert bad_flag.stderr.strip().splitlines()[-1].startswith("error: argument --limit")
    tiny_cnn.save(tmp_path / "model.keras")
    (tmp_path / "torn.keras").write_bytes((tmp_path / "model.keras").read_bytes()[:2000])
    corrupt = _run_cli("rc_keras.radius", "--dataset", "mnist", "--model", "torn.keras",
                       "--limit", "5", "--out", "out", cwd=tmp_path)
    assert corrupt.returncode == 2 and "Traceback" not in corrupt.stderr, corrupt.stderr
    last = corrupt.stderr.strip().splitlines()[-1]
    assert last.startswith("error: torn.keras: the model file is corrupt"), corrupt.stderr


# ---- item 10: empty batches --------------------------------------------------------------

def test_region_classifier_answers_an_empty_batch(tiny_cnn):
    rc = RegionClassifier(tiny_cnn, 0.1, 8, seed=0)
    empty = np.zeros((0, 8, 8, 1), np.float32)
    assert rc.predict(empty, verbose=0).shape == (0, 10)
    assert rc.vote_counts(empty).shape == (0, 10)
    assert rc.predict_labels(empty).shape == (0,)


# ---- item 10: a non-editable install carries the data files the library reads -----------

@pytest.mark.slow
def test_the_wheel_holds_the_shipped_weights_and_learned_radii(tmp_path):
    """``pip install .`` (non-editable) used to leave the learned radius out, so the
    experiments silently fell back to the paper's r."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "results", "*.ckpt"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel")],
                   cwd=source, check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "wheel").glob("rc_keras-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data_files = [f"{folder}/{name}"
                  for folder, suffixes in [("models/weights", (".keras", ".json")),
                                           ("rc_keras/radii", (".json",))]
                  for name in sorted(os.listdir(os.path.join(ROOT, folder)))
                  if name.endswith(suffixes)]
    assert {"models/weights/mnist.keras", "rc_keras/radii/mnist.json"} <= set(data_files)
    assert sorted(set(data_files) - names) == []
    # installed (a pure-Python wheel unpacked is installed), the library finds the radius
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    probe = ("import rc_keras.radius as m; r, source = m.region_radius('mnist'); "
             "print(m.__file__); print(r, source)")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(installed)),
                           check=True, timeout=300).stdout.splitlines()
    assert shown[-2].startswith(str(installed)) and "learned by Algorithm 1" in shown[-1]


def test_results_never_default_into_an_installed_package(tmp_path):
    from experiments.protocol import default_results_root
    checkout = tmp_path / "checkout"
    (checkout / "experiments").mkdir(parents=True)
    (checkout / "setup.py").write_text("")
    installed = tmp_path / "site-packages" / "experiments"
    installed.mkdir(parents=True)
    work = str(tmp_path / "work")
    assert default_results_root(str(checkout / "experiments"), work, {}) == \
        str(checkout / "experiments" / "results")
    assert default_results_root(str(installed), work, {}) == str(tmp_path / "work" / "results")
    assert default_results_root(str(installed), work, {"RC_RESULTS_DIR": "/x"}) == "/x"
