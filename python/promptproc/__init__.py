"""promptproc: Kubernetes-native prompt processing for time-domain astronomy."""

__all__ = ["__version__"]

__version__ = "0.1.0"
