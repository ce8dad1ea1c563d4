"""Region-based classification (Cao & Gong, ACSAC 2017) for Keras.

`RegionClassifier` wraps a point classifier; `learn_radius` is the paper's
Algorithm 1; `rc_keras.voting` holds the (early-stopped) vote counting and
`rc_keras.sampling` the hypercube sampler. CLIs: ``python -m rc_keras.radius``
(learn r, Figure 4) and ``python -m rc_keras.benchmark``.
"""
from rc_keras.loading import load_base_model
from rc_keras.region import RegionClassifier
from rc_keras.sampling import BoxSampler
from rc_keras.search import RadiusSearch, learn_radius

__all__ = ["BoxSampler", "RadiusSearch", "RegionClassifier", "learn_radius", "load_base_model"]
