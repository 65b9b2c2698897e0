"""tidal: inference services that scale themselves, with Kubernetes' own semantics."""

__version__ = "0.1.0"
__all__ = ["__version__"]
