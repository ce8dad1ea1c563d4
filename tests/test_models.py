import numpy as np
import pytest

from models import build_cw_mnist, build_resnet
from models.checks import check_images, check_labels
from models.distill import TemperatureCrossEntropy


def test_cw_mnist_architecture():
    model = build_cw_mnist()
    assert model.count_params() == 312202
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [(26, 26, 32), (24, 24, 32), (12, 12, 32), (10, 10, 64), (8, 8, 64),
                      (4, 4, 64), (1024,), (200,), (200,), (200,), (10,)]
    assert model.layers[-1].activation.__name__ == "linear"  # logits


@pytest.mark.parametrize("depth, params", [(20, 273754)])
def test_resnet_v1_shapes(depth, params):
    model = build_resnet(depth)
    assert model.count_params() == params
    assert model.output.shape[1:] == (10,)
    convs = [l for l in model.layers if l.name.endswith("_conv")]
    assert len(convs) == depth - 1  # 6n + 1 3x3 convs, plus the dense layer = 6n + 2
    out = model(np.random.rand(2, 32, 32, 3).astype("float32"), training=False)
    assert out.shape == (2, 10)


def test_resnet_rejects_bad_depth():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        build_resnet(21)


def test_temperature_cross_entropy_matches_scaled_softmax():
    logits = np.array([[2.0, 0.0, -1.0]], np.float32)
    target = np.array([[0.2, 0.5, 0.3]], np.float32)
    t = 10.0
    p = np.exp(logits / t) / np.exp(logits / t).sum()
    expected = -(target * np.log(p)).sum()
    assert float(TemperatureCrossEntropy(t)(target, logits)) == pytest.approx(expected, rel=1e-5)


def test_checks_name_the_problem():
    good = np.zeros((2, 4, 4, 1), np.float32)
    assert check_images(good, expected_shape=(4, 4, 1)).dtype == np.float32
    with pytest.raises(TypeError, match="uint8"):
        check_images(good.astype(np.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\)"):
        check_images(good[0])
    with pytest.raises(ValueError, match="model takes"):
        check_images(good, expected_shape=(5, 5, 1))
    with pytest.raises(ValueError, match="NaN"):
        check_images(np.full_like(good, np.nan))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_images(good + 2)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        check_labels(np.array([0, 10]), 2, 10)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        check_labels(np.array([0, 1]), 3, 10)

