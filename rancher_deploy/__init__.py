"""Ship a new container image to Rancher from a CI pipeline."""

__version__ = "0.1.0"
