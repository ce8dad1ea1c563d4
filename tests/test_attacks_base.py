"""The one shape of every attack (`cw_attacks.base.Attack`) and the attack table (`registry`)."""
import inspect

import keras
import numpy as np
import pytest

from cw_attacks import FGSM, IGSM, JSMA, Attack, CarliniL2, DeepFool
from cw_attacks.base import NORMS, in_batches
from cw_attacks.registry import ATTACKS, PROFILES, Entry, build, norm_of

CLASSES = sorted({entry.cls for entry in ATTACKS.values()}, key=lambda c: c.__name__)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_registry_entry_builds_an_attack_of_its_norm_and_goal(tiny_cnn, name, profile):
    entry = ATTACKS[name]
    attack = build(name, tiny_cnn, profile)
    assert isinstance(attack, Attack) and type(attack) is entry.cls
    assert attack.norm in NORMS and attack.norm == entry.norm == norm_of(name)
    assert attack.targeted == entry.targeted
    assert attack.num_classes == 10
    for key, value in entry.settings(profile).items():
        assert getattr(attack, key) == value, key


def test_registry_settings_profiles():
    assert ATTACKS["JSMA"].settings("reference") == {"gamma": 1.0}   # the paper ran it unbudgeted
    assert ATTACKS["JSMA"].settings("quick") == {"gamma": 1.0}
    assert ATTACKS["CW-L2"].settings("reference") == {}
    assert ATTACKS["CW-L2"].settings("quick") == {"binary_search_steps": 5, "max_iterations": 1000}
    assert ATTACKS["DeepFool"].targeted is False and ATTACKS["CW-L0"].targeted is True
    with pytest.raises(TypeError):
        ATTACKS["JSMA"].reference["gamma"] = 0.5   # the shared table is read-only


def test_build_overrides_and_refuses_unknown_names(tiny_cnn):
    attack = build("CW-L2", tiny_cnn, "quick", confidence=20, targeted=False)
    assert (attack.confidence, attack.max_iterations, attack.targeted) == (20.0, 1000, False)
    with pytest.raises(ValueError, match="unknown attack 'CW-L3'.*CW-L2"):
        build("CW-L3", tiny_cnn)
    with pytest.raises(ValueError, match="unknown attack settings profile 'paper'"):
        build("CW-L2", tiny_cnn, "paper")
    with pytest.raises(ValueError, match="unknown attack"):
        norm_of("nope")
    with pytest.raises(TypeError, match="Attack"):
        Entry(dict)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_hyper_parameters_are_keyword_only(tiny_cnn, cls):
    parameters = list(inspect.signature(cls).parameters.values())
    assert parameters[0].name == "model"
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters[1:])
    assert {"targeted", "batch_size"} <= {p.name for p in parameters}
    with pytest.raises(TypeError, match="positional"):
        cls(tiny_cnn, cls.can_target)


def test_each_goal_is_refused_where_the_attack_lacks_it(tiny_cnn):
    assert DeepFool(tiny_cnn).targeted is False
    assert JSMA(tiny_cnn).targeted is True and CarliniL2(tiny_cnn).targeted is True
    with pytest.raises(ValueError, match="DeepFool is untargeted only: pass targeted=False"):
        DeepFool(tiny_cnn, targeted=True)
    with pytest.raises(ValueError, match="JSMA is targeted only: pass targeted=True"):
        JSMA(tiny_cnn, targeted=False)
    with pytest.raises(TypeError, match="targeted must be True or False"):
        FGSM(tiny_cnn, targeted="no")


def test_a_subclass_without_a_norm_is_refused(tiny_cnn):
    class NoNorm(Attack):
        pass

    with pytest.raises(TypeError, match="norm"):
        NoNorm(tiny_cnn)


def _probability_models():
    """Models on 8x8x1 images whose outputs all lie in [0, 1]: not logits."""
    flat = [keras.Input((8, 8, 1)), keras.layers.Flatten()]
    keras.utils.set_random_seed(0)
    return {"sigmoid": keras.Sequential(flat + [keras.layers.Dense(10, activation="sigmoid")]),
            "0.5 softmax": keras.Sequential(flat + [keras.layers.Dense(10, activation="softmax"),
                                                    keras.layers.Rescaling(0.5)])}


@pytest.mark.parametrize("kind", ["sigmoid", "0.5 softmax"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_probability_outputs_are_refused_at_construction(name, kind):
    """Issue 11 item 6: such models passed the old check and the CW attacks then failed silently."""
    with pytest.raises(ValueError, match="give the attack the logits model"):
        build(name, _probability_models()[kind])


def test_a_model_that_is_not_a_keras_model_is_refused():
    with pytest.raises(TypeError, match="Keras model"):
        FGSM(lambda x: x)


@pytest.mark.parametrize("cls", [FGSM, IGSM, JSMA, DeepFool], ids=lambda c: c.__name__)
def test_batch_size_never_changes_the_results(tiny_cnn, rng, cls):
    x = rng.uniform(size=(7, 8, 8, 1)).astype(np.float32)
    predicted = np.argmax(tiny_cnn(x), axis=1)
    labels = (predicted + 1 + np.arange(7) % 9) % 10 if cls.can_target else predicted
    settings = {"gamma": 0.3} if cls is JSMA else {}
    whole = cls(tiny_cnn, **settings).attack(x, labels)
    parts = cls(tiny_cnn, batch_size=3, **settings).attack(x, labels)
    assert whole.success.any()
    np.testing.assert_array_equal(parts.success, whole.success)
    np.testing.assert_array_equal(parts.iterations, whole.iterations)
    np.testing.assert_allclose(parts.adversarial, whole.adversarial, atol=1e-6)


def test_in_batches_concatenates_every_output_in_order():
    a, b = np.arange(7), np.arange(7) * 10
    calls = []

    def run(x, y):
        calls.append(len(x))
        return x + y, -x

    total, negative = in_batches(run, 3, a, b)
    assert calls == [3, 3, 1]
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(negative, -a)


def test_an_entry_whose_quick_profile_changes_the_norm_is_refused():
    with pytest.raises(ValueError, match="norm"):
        Entry(FGSM, quick={"norm": "l2"})
