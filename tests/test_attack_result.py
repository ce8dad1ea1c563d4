import numpy as np

from cw_attacks.result import noise_norms


def test_noise_norms_count_pixels_and_accept_empty_batches():
    x = np.zeros((2, 4, 4, 3))
    y = x.copy()
    y[0, 0, 0, 1] = 0.5
    y[1, 1, 1, :] = 0.1
    l0, l2, linf = noise_norms(x, y)
    np.testing.assert_allclose(l0, [1, 1])
    np.testing.assert_allclose(l2, [0.5, np.sqrt(0.03)])
    np.testing.assert_allclose(linf, [0.5, 0.1])
    assert all(len(v) == 0 for v in noise_norms(x[:0], y[:0]))
