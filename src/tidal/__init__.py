"""tidal: inference services that scale themselves, with Kubernetes' own semantics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Model", "__version__"]

if TYPE_CHECKING:
    from tidal.runtimes.model import Model


def __getattr__(name: str) -> Any:
    """Lazy exports: `tidal.Model` imports the runtime only when asked, so `import tidal` (the
    CLI's first line) stays fast."""
    if name == "Model":
        from tidal.runtimes.model import Model

        return Model
    raise AttributeError(f"module 'tidal' has no attribute {name!r}")
