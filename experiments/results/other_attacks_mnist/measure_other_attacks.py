"""T-FGSM, T-IGSM, T-JSMA (9 targets each) and DeepFool on the shipped MNIST model.

The first 20 test images the model classifies correctly, each with its 9
wrong targets (180 examples); DeepFool on the 20 images. The U- versions of
the three targeted attacks are derived from the same runs (best of the 9
targets, judged by the model). Resumable: each attack runs through
`run_chunked` in its own folder under OUT.

Usage: RC_DATA_DIR=... python3 measure_other_attacks.py OUT
"""
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cw_attacks import (FGSM, IGSM, JSMA, DeepFool, best_over_targets, model_judge,  # noqa: E402
                        run_chunked, wrong_targets)
from models import load_dataset, load_pretrained, pretrained_record  # noqa: E402
from models.records import JsonLines, run_record, write_json  # noqa: E402

NUM_IMAGES = 20
PAPER = {  # Table 4 (targeted) and Table 5 (untargeted), MNIST, point-based: (SR, noise)
    "T-FGSM": (0.38, 0.276), "T-IGSM": (0.999, 0.183), "T-JSMA": (1.0, 72.3),
    "U-FGSM": (1.0, 0.188), "U-IGSM": (1.0, 0.133), "U-JSMA": (1.0, 21.4),
    "DeepFool": (1.0, 2.17),
}


def measure(name, attack, x, labels, norm, out, data, paper):
    """Run (or resume) one attack; return its result and figures."""
    folder = os.path.join(out, name)
    began = time.time()
    result = run_chunked(attack, x, labels, folder, chunk_size=60, data_record=data.record())
    chunks = JsonLines(os.path.join(folder, "chunks.jsonl")).records.values()
    figures = summary(result, norm, sum(c["seconds"] for c in chunks), paper)
    figures["wall_seconds_this_invocation"] = time.time() - began
    print(name, figures, flush=True)
    return result, figures


def summary(result, norm, seconds, paper):
    return {"examples": len(result), "success_rate": result.success_rate,
            "mean_noise": result.mean_noise(norm), "norm": norm,
            "mean_noise_all_norms": {n: result.mean_noise(n) for n in ("l0", "l2", "linf")},
            "mean_iterations": float(result.iterations.mean()), "attack_seconds": seconds,
            "paper_success_rate": paper[0], "paper_mean_noise": paper[1]}


def main(out):
    os.makedirs(out, exist_ok=True)
    shutil.copy(__file__, os.path.join(out, os.path.basename(__file__)))
    model = load_pretrained("mnist")
    data = load_dataset("mnist")
    judge = model_judge(model)
    correct = np.flatnonzero(judge(data.x_test[:200]) == data.y_test[:200])[:NUM_IMAGES]
    x, y = data.x_test[correct], data.y_test[correct]
    record = run_record({"images": NUM_IMAGES, "test_indices": correct.tolist(),
                         "targets_per_image": 9, "model": "mnist",
                         "model_record": pretrained_record("mnist")}, seed=None,
                        data_record=data.record())
    index, targets = wrong_targets(y)
    figures = {}
    # summary.json is rewritten after each attack, so a cut-short run still reports
    for name, attack, norm, paper in (
            ("T-FGSM", FGSM(model), "linf", "FGSM"), ("T-IGSM", IGSM(model), "linf", "IGSM"),
            ("T-JSMA", JSMA(model), "l0", "JSMA"), ("DeepFool", DeepFool(model), "l2", None),
            # cleverhans' default budget (SaliencyMapMethod gamma=1.0), for comparison
            ("T-JSMA-gamma1", JSMA(model, gamma=1.0), "l0", "JSMA")):
        if paper is None:
            _, figures[name] = measure(name, attack, x, y, norm, out, data, PAPER[name])
        else:
            result, figures[name] = measure(name, attack, x[index], targets, norm, out, data,
                                            PAPER["T-" + paper])
            untargeted = best_over_targets(result, x, y, judge, norm=norm)
            figures["U" + name[1:]] = summary(untargeted, norm, figures[name]["attack_seconds"],
                                              PAPER["U-" + paper])
        write_json(os.path.join(out, "summary.json"), {"run": record, "figures": figures})


if __name__ == "__main__":
    main(sys.argv[1])
