"""The non-CW attacks on the shipped MNIST model (slow: about a minute)."""
import numpy as np
import pytest

from cw_attacks import FGSM, IGSM, JSMA, DeepFool, best_over_targets, model_judge, wrong_targets


@pytest.mark.slow
def test_attacks_on_the_shipped_mnist_model(mnist):
    from models import load_pretrained
    try:
        model = load_pretrained("mnist")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    judge = model_judge(model)
    correct = np.flatnonzero(judge(mnist.x_test[:10]) == mnist.y_test[:10])[:2]
    x, y = mnist.x_test[correct], mnist.y_test[correct]
    index, targets = wrong_targets(y)

    igsm = IGSM(model).attack(x[index], targets)
    assert igsm.success_rate >= 0.9 and igsm.mean_noise("linf") < 0.4
    untargeted = best_over_targets(igsm, x, y, judge, norm="linf")
    assert untargeted.success.all()
    assert np.all(untargeted.linf <= igsm.linf.reshape(2, 9).max(axis=1))

    # Measured on these 18 examples: FGSM 6/18 at mean L∞ 0.33; JSMA (10% budget) 12/18 at
    # mean L0 58 pixels. Successes are the model's target predictions.
    fgsm = FGSM(model).attack(x[index], targets)
    assert fgsm.success_rate >= 0.25 and fgsm.linf[fgsm.success].mean() < 0.4
    np.testing.assert_array_equal(judge(fgsm.adversarial[fgsm.success]), targets[fgsm.success])

    jsma = JSMA(model).attack(x[index], targets)
    assert jsma.success_rate >= 0.5 and jsma.l0[jsma.success].mean() < 70
    np.testing.assert_array_equal(judge(jsma.adversarial[jsma.success]), targets[jsma.success])
    assert np.all(jsma.adversarial >= x[index]) and np.all(jsma.l0 <= 2 * jsma.iterations)

    deepfool = DeepFool(model).attack(x, y)
    assert deepfool.success.all() and deepfool.mean_noise("l2") < 5.0
