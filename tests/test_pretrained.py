import numpy as np
import pytest

from models import load_pretrained, pretrained_record


# Floors sit a little under the measured accuracies (MNIST 99.39%, CIFAR-10 82.0%),
# so a broken file or loader fails while the slice's sampling noise does not.
@pytest.mark.parametrize("name, dataset, slice_size, floor", [
    ("mnist", "mnist", 2000, 0.99),
    ("cifar10", "cifar10", 500, 0.78),
])
def test_shipped_weights_are_accurate_on_a_slice(name, dataset, slice_size, floor, request):
    from models.data import load_dataset
    request.getfixturevalue("mnist")  # skips without offline data
    data = load_dataset(dataset)
    model = load_pretrained(name)
    logits = model.predict(data.x_test[:slice_size], batch_size=500, verbose=0)
    assert np.mean(np.argmax(logits, 1) == data.y_test[:slice_size]) >= floor
    record = pretrained_record(name)
    assert record["dataset"]["sha256"] == data.sha256
    assert record["test_accuracy"] >= floor


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="available"):
        load_pretrained("imagenet")
