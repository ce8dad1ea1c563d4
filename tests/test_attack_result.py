import json

import numpy as np
import pytest

from cw_attacks.result import AttackResult, noise_norms


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


def _result(rng, n=5):
    x = rng.uniform(0, 1, (n, 3, 3, 1)).astype(np.float32)
    adversarial = np.clip(x + rng.uniform(-0.2, 0.2, x.shape), 0, 1).astype(np.float32)
    return AttackResult.from_images(x, adversarial, np.arange(n) % 2 == 0, np.arange(n))


def _assert_same(a, b):
    for name in ("adversarial", "success", "l0", "l2", "linf", "iterations"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name


def test_indexing_and_concatenation_are_inverse(rng):
    result = _result(rng)
    assert len(result[1:3]) == 2 and result[[4, 0]].iterations.tolist() == [4, 0]
    assert result[result.success].success.all() and len(result[2]) == 1
    _assert_same(AttackResult.concatenate([result[:2], result[2:3], result[3:]]), result)
    _assert_same(result[::2], AttackResult.concatenate([result[0], result[2], result[4]]))
    with pytest.raises(ValueError, match="at least one"):
        AttackResult.concatenate([])


def test_record_round_trip_is_exact_and_json_ready(rng):
    result = _result(rng)
    record, arrays = result.to_record()
    assert set(record) == {"success", "l0", "l2", "linf", "iterations"}
    record = json.loads(json.dumps(record))          # what a JSON-lines file gives back
    _assert_same(AttackResult.from_record({**record, "seconds": 1.0}, arrays), result)
