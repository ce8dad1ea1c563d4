"""The batched CW attacks against literal one-image ports of the reference code.

Each `reference_*` function below follows carlini/nn_robust_attacks
(l2_attack.py with batch_size=1, l0_attack.py, li_attack.py) statement by
statement, one example at a time, with tf.train.AdamOptimizer's update
written out in NumPy and the loss as the reference builds it, shifted from
[-0.5, 0.5] to [0, 1]. The batched attacks must make the same decisions: same success, same changed
pixels, same iteration counts, images equal up to float round-off.
"""
import numpy as np
import pytest
import tensorflow as tf

from cw_attacks.cw_common import to_tanh_space
from cw_attacks.l0 import CarliniL0
from cw_attacks.l2 import CarliniL2
from cw_attacks.linf import CarliniLinf


class _Adam:
    """tf.train.AdamOptimizer's update (epsilon 1e-8) in NumPy float32, fresh state."""

    def __init__(self, learning_rate):
        self.learning_rate, self.m, self.v, self.t = learning_rate, 0.0, 0.0, 0

    def step(self, var, grad):
        self.t += 1
        self.m = np.float32(.9) * self.m + np.float32(.1) * grad
        self.v = np.float32(.999) * self.v + np.float32(.001) * grad * grad
        rate = np.float32(self.learning_rate * np.sqrt(1 - .999 ** self.t) / (1 - .9 ** self.t))
        return (var - rate * self.m / (np.sqrt(self.v) + np.float32(1e-8))).astype(np.float32)


def _margin(model, newimg, target, margin):
    """The reference's loss1 for one image: max(0, other - real + margin)."""
    output = model(newimg, training=False)
    onehot = tf.one_hot([target], output.shape[1])
    real = tf.reduce_sum(onehot * output, 1)
    other = tf.reduce_max((1 - onehot) * output - onehot * 10000, 1)
    return output, tf.maximum(0.0, other - real + margin)[0]


def _evaluator(model, loss_fn):
    """tf.function: (modifier, *args) -> (loss_fn's outputs..., d loss / d modifier)."""
    @tf.function
    def evaluate(modifier, *args):
        with tf.GradientTape() as tape:
            tape.watch(modifier)
            out = loss_fn(model, modifier, *args)
        return out + (tape.gradient(out[0], modifier),)
    return evaluate


def _l2_loss(model, modifier, timg, target, const, confidence):
    newimg = (tf.tanh(modifier + timg) + 1) / 2
    output, loss1 = _margin(model, newimg, target, confidence)
    l2dist = tf.reduce_sum(tf.square(newimg - (tf.tanh(timg) + 1) / 2))
    return const * loss1 + l2dist, newimg, output, l2dist


def reference_l2(model, img, target, confidence, learning_rate, binary_search_steps,
                 max_iterations, initial_const):
    """l2_attack.py, attack_batch with batch_size=1, targeted, abort_early=True."""
    evaluate = _evaluator(model, _l2_loss)
    timg = to_tanh_space(img[None])
    lower_bound, const, upper_bound = 0.0, initial_const, 1e10
    o_bestl2, o_bestattack, iterations = 1e10, img, 0
    for _ in range(binary_search_steps):
        modifier, adam = np.zeros_like(timg), _Adam(learning_rate)
        bestscore = -1
        prev = 1e6
        for iteration in range(max_iterations):
            iterations += 1
            loss, newimg, output, l2dist, grad = (
                v.numpy() for v in evaluate(modifier, timg, target, np.float32(const), confidence))
            modifier = adam.step(modifier, grad)
            if iteration % (max_iterations // 10) == 0:
                if loss > prev * .9999:
                    break
                prev = loss
            score = output[0].copy()
            score[target] -= confidence
            if np.argmax(score) == target:
                bestscore = target
                if l2dist < o_bestl2:
                    o_bestl2, o_bestattack = l2dist, newimg[0]
        if bestscore != -1:
            upper_bound = min(upper_bound, const)
            if upper_bound < 1e9:
                const = (lower_bound + upper_bound) / 2
        else:
            lower_bound = max(lower_bound, const)
            const = (lower_bound + upper_bound) / 2 if upper_bound < 1e9 else const * 10
    return o_bestattack, o_bestl2 < 1e10, iterations


def _doit(step, img, prev, const, learning_rate, max_iterations, largest_const, counter):
    """The reference's doit loop of l0/li_attack.py: Adam from modifier 0, c doubled
    after max_iterations; step(modifier, adam, simg, timg, const) -> (modifier,
    result or None). counter[0] counts the iterations."""
    timg, simg = to_tanh_space(img[None]), to_tanh_space(prev)
    modifier, adam = np.zeros_like(timg), _Adam(learning_rate)
    while const < largest_const:
        for _ in range(max_iterations):
            counter[0] += 1
            modifier, result = step(modifier, adam, simg, timg, const)
            if result is not None:
                return result
        const *= 2.0
    return None


def _l0_loss(model, modifier, simg, timg, original, valid, target, const):
    newimg = (tf.tanh(modifier + simg) + 1) / 2 * valid + (1 - valid) * original
    _, loss1 = _margin(model, newimg, target, .01)
    return const * loss1 + tf.reduce_sum(tf.square(newimg - (tf.tanh(timg) + 1) / 2)), newimg, loss1


def reference_l0(model, img, target, learning_rate, max_iterations, initial_const, largest_const):
    """l0_attack.py, attack_single, targeted, pixels (not channels), reduce_const=False."""
    evaluate = _evaluator(model, _l0_loss)
    counter = [0]

    def doit(prev, valid, const):
        def step(modifier, adam, simg, timg, const):
            _, newimg, works, grads = (v.numpy() for v in evaluate(
                modifier, simg, timg, img[None], valid, target, np.float32(const)))
            if works < .0001:
                return modifier, (grads, newimg, const)
            return adam.step(modifier, grads), None
        return _doit(step, img, prev, const, learning_rate, max_iterations, largest_const, counter)

    size = img.shape[0] * img.shape[1]
    valid = np.ones((1,) + img.shape, np.float32)
    prev, last_solution, const = img[None].copy(), None, initial_const
    while True:
        res = doit(prev, valid, const)
        if res is None:
            found = last_solution is not None
            return (last_solution[0] if found else img), found, counter[0]
        gradientnorm, nimg, const = res
        equal_count = size - np.sum(np.all(np.abs(img - nimg[0]) < .0001, axis=2))
        valid = valid.reshape((size, img.shape[2]))
        totalchange = (abs(np.sum(nimg[0] - img, axis=2))
                       * np.sum(np.abs(gradientnorm[0]), axis=2)).flatten()
        did = 0
        for e in np.argsort(totalchange):
            if np.all(valid[e]):
                did += 1
                valid[e] = 0
                if totalchange[e] > .01:
                    break
                if did >= .3 * equal_count ** .5:
                    break
        valid = np.reshape(valid, (1,) + img.shape)
        last_solution = prev = nimg


def _linf_loss(model, modifier, simg, timg, tau, target, const):
    newimg = (tf.tanh(modifier + simg) + 1) / 2
    _, loss1 = _margin(model, newimg, target, 0.0)
    loss2 = tf.reduce_sum(tf.maximum(0.0, tf.abs(newimg - (tf.tanh(timg) + 1) / 2) - tau))
    return const * loss1 + loss2, newimg


def reference_linf(model, img, target, learning_rate, max_iterations, initial_const,
                   largest_const):
    """li_attack.py, attack_single, targeted, decrease_factor 0.9, reduce_const=False."""
    evaluate = _evaluator(model, _linf_loss)
    counter = [0]

    def doit(prev, tau, const):
        def step(modifier, adam, simg, timg, const):
            works, _, grads = (v.numpy() for v in evaluate(
                modifier, simg, timg, np.float32(tau), target, np.float32(const)))
            modifier = adam.step(modifier, grads)
            if works < .0001 * const:
                nimg = (np.tanh(modifier + simg) + 1) / 2
                if np.argmax(model(nimg, training=False).numpy()) == target:
                    return modifier, (nimg, const)
            return modifier, None
        return _doit(step, img, prev, const, learning_rate, max_iterations, largest_const, counter)

    prev, tau, const, found = img[None].copy(), 1.0, initial_const, False
    while tau > 1. / 256:
        res = doit(prev, tau, const)
        if res is None:
            break
        nimg, const = res
        found = True
        actualtau = np.max(np.abs(nimg - img))
        if actualtau < tau:
            tau = actualtau
        prev = nimg
        tau *= 0.9
    return prev[0], found, counter[0]


@pytest.fixture(scope="module")
def examples(tiny_cnn):
    x = np.random.default_rng(1).random((2, 8, 8, 1)).astype(np.float32)
    return x, (np.asarray(tiny_cnn(x)).argmax(1) + 3) % 10


CASES = {
    "L2": (CarliniL2, reference_l2, dict(confidence=0.1, learning_rate=0.05, binary_search_steps=4,
                                         max_iterations=40, initial_const=1.0)),
    "L0": (CarliniL0, reference_l0, dict(learning_rate=0.05, max_iterations=30, initial_const=0.1,
                                         largest_const=10.0)),
    "Linf": (CarliniLinf, reference_linf, dict(learning_rate=0.02, max_iterations=30,
                                               initial_const=0.01, largest_const=5.0)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(tiny_cnn, examples, case):
    cls, reference, params = CASES[case]
    x, targets = examples
    result = cls(tiny_cnn, **params).attack(x, targets)
    for i in range(len(x)):
        image, success, iterations = reference(tiny_cnn, x[i], targets[i], **params)
        assert result.success[i] == success and result.iterations[i] == iterations
        np.testing.assert_allclose(result.adversarial[i], image, atol=1e-4)
    assert result.success.any()
