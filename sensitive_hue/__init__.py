"""SensitiveMamba: multivariate time-series anomaly detection with a Mamba (S6) encoder,
a heteroscedastic reconstruction loss and TS2Vec-style hierarchical contrastive learning.

    from sensitive_hue import SensitiveMamba, SensitiveHUE, PCA, MaxZ, RandomScores, PyOD

are scikit-learn / PyOD-style estimators (`fit`, `decision_function`, `predict`, `threshold_`;
see `sensitive_hue.estimators`). They are imported on first use, so `import sensitive_hue` stays light.
"""

__version__ = "0.1.0"

_ESTIMATORS = ("BaseDetector", "SensitiveMamba", "SensitiveHUE", "PCA", "MaxZ", "RandomScores", "PyOD")
__all__ = ["__version__", *_ESTIMATORS]


def __getattr__(name: str):
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'sensitive_hue' has no attribute {name!r}")
