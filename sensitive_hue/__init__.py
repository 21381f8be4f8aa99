"""SensitiveMamba: multivariate time-series anomaly detection with a Mamba (S6) encoder,
a heteroscedastic reconstruction loss and TS2Vec-style hierarchical contrastive learning."""

__version__ = "0.1.0"
