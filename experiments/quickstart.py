"""The README's main job: a quick end-to-end MNIST run on the shipped model.

``python -m experiments.quickstart`` loads MNIST (offline from $RC_DATA_DIR)
and the shipped CW MNIST network, and prints its test accuracy.
"""
import argparse
import time

import numpy as np

from models import load_dataset, load_pretrained


def point_accuracy(model, x, y):
    """Top-1 accuracy of a logits model; x (N, H, W, C) in [0, 1], y (N,) ints."""
    return float(np.mean(np.argmax(model.predict(x, batch_size=1000, verbose=0), 1) == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist.npz (default $RC_DATA_DIR)")
    args = parser.parse_args(argv)
    started = time.time()
    data = load_dataset("mnist", data_dir=args.data_dir)
    model = load_pretrained("mnist")
    acc = point_accuracy(model, data.x_test, data.y_test)
    print(f"MNIST point classifier: test accuracy {acc:.2%} on {data.test_note} "
          f"(data sha256 {data.sha256[:12]}..., {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
