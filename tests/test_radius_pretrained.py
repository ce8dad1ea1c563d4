"""Slow: on the shipped MNIST model, early-stopped and naive searches agree."""
import numpy as np
import pytest

from rc_keras import learn_radius


@pytest.mark.slow
def test_fast_search_matches_naive_search_on_a_validation_subset(mnist):
    from models.pretrained import load_pretrained
    try:
        model = load_pretrained("mnist")
    except FileNotFoundError:
        pytest.skip("models/weights/mnist.keras is not in this checkout")
    x, y = mnist.x_val[:100], mnist.y_val[:100]
    kwargs = dict(r0=0.0, step=0.05, num_samples=1000, max_radius=0.5, seed=0)
    naive = learn_radius(model, x, y, early_stop=False, **kwargs)
    fast = learn_radius(model, x, y, early_stop=True, **kwargs)
    assert fast.radius == naive.radius
    np.testing.assert_allclose([a for _, a in fast.curve], [a for _, a in naive.curve])
    assert fast.forward_passes * 5 < naive.forward_passes
