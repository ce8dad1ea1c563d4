"""Issue 15 item 5: training and RC voting on several devices (two logical CPUs).

Logical devices must be configured before TensorFlow initialises its
devices, so each check runs in a fresh interpreter (`_on_two_cpus`).
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO_CPUS = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
""")


def _on_two_cpus(code, *argv):
    """Run ``code`` after splitting the CPU into two logical devices; its last stdout line
    parsed as JSON."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", TWO_CPUS + textwrap.dedent(code), *argv],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rc_votes_on_two_devices_equal_one_device_votes():
    """A seeded RC gives the same counts split over 2 devices as on one, for fixed and
    early-stopped votes, for a batch larger and one smaller than the device count."""
    got = _on_two_cpus("""
        import json, keras, numpy as np
        from models.devices import select_devices
        from rc_keras import RegionClassifier
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 8, 1)),
                                  keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
        x = np.random.default_rng(0).random((7, 8, 8, 1)).astype(np.float32)
        devices = select_devices("all")
        same = {}
        for early_stop in (False, True):
            kwargs = dict(seed=5, early_stop=early_stop, chunk_size=50)
            one = RegionClassifier(model, 0.3, 200, **kwargs)
            two = RegionClassifier(model, 0.3, 200, devices=devices, **kwargs)
            for rows in (slice(0, 7), slice(0, 1)):
                a, b = one.vote_counts(x[rows]), two.vote_counts(x[rows])
                same[f"{early_stop}-{rows.stop}"] = bool((a == b).all() and a.sum() > 0)
        graph = two._vote_fn.get_concrete_function().graph
        placed = sorted({op.device.rpartition("/")[2] for op in graph.get_operations()
                         if op.device})
        print(json.dumps({"devices": devices, "same": same, "placed": placed}))
    """)
    assert len(got["devices"]) == 2
    assert all(got["same"].values()), got["same"]
    assert got["placed"] == ["device:CPU:0", "device:CPU:1"]   # the vote really is split


def test_region_classifier_rejects_unknown_devices():
    import keras

    from rc_keras import RegionClassifier
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    for devices in (["/GPU:7"], [], "/CPU:0", ["nonsense device"]):
        with pytest.raises(ValueError, match="devices must"):
            RegionClassifier(model, 0.3, devices=devices)
    assert RegionClassifier(model, 0.3, devices=["/CPU:0"]).devices == ("/CPU:0",)


def test_select_devices_and_its_errors():
    from models.devices import devices_type, select_devices
    assert len(select_devices(1)) == 1 and select_devices("all")[:1] == select_devices(1)
    for bad in (0, -1, 1.5, True, "two"):
        with pytest.raises(ValueError, match="devices must be an integer >= 1 or 'all'"):
            select_devices(bad)
    with pytest.raises(ValueError, match="devices=99, but only"):
        select_devices(99)
    assert devices_type("all") == "all" and devices_type("3") == 3
    import argparse
    for bad in ("0", "x", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="integer >= 1 or 'all'"):
            devices_type(bad)


def test_train_cli_rejects_more_devices_than_visible(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "models.train", "--devices", "64", "--out",
                           str(tmp_path / "m.keras")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2   # one line; TensorFlow's own start-up log lines come before
    assert done.stderr.strip().splitlines()[-1].startswith("error: devices=64, but only")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_training_on_two_devices_learns_like_one_device_and_resumes(tmp_path):
    """The MNIST recipe on 2,000 images, 2 epochs, under MirroredStrategy on 2 logical CPUs
    (stopped after epoch 1 and resumed) and on one device: the same global batch, so the
    loss curves and accuracies agree (a gradient summed instead of averaged over the
    replicas would double the step and show), and both learn (accuracy well above 10%)."""
    if not os.environ.get("RC_DATA_DIR"):
        pytest.skip("set RC_DATA_DIR to the folder holding mnist.npz")
    got = _on_two_cpus("""
        import json, sys
        from models.train import train
        two, one = sys.argv[1:]
        tiny = dict(epochs=2, train_limit=2000, verbose=0)
        first = train("mnist", out=two, devices=2, max_epochs_this_run=1, **tiny)
        record = train("mnist", out=two, devices="all", **tiny)
        single = train("mnist", out=one, **tiny)
        print(json.dumps({"first": first, "record": record, "single": single}))
    """, str(tmp_path / "two.keras"), str(tmp_path / "one.keras"))
    record, single = got["record"], got["single"]
    assert got["first"] is None                       # stopped after epoch 1, resumable
    assert len(record["devices"]) == 2 and len(single["devices"]) == 1
    assert [h["epoch"] for h in record["history"]] == [1, 2] and record["epochs_this_run"] == 1
    for two, one in zip(record["history"], single["history"]):
        assert two["loss"] == pytest.approx(one["loss"], abs=0.05), (two, one)
    assert record["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=0.05)
    assert record["test_accuracy"] > 0.3
