"""c12exporter: monitoring for StageSmarts C12B power distribution units."""

from .plugins import hookimpl

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"
