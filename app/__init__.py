"""hpsearch: hyperparameter random search as a service."""

__version__ = "0.1.0"
