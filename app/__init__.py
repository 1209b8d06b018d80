"""hpsearch: hyperparameter random search as a service."""

from hpsearch import __version__ as __version__
