"""Alert rules generator: ``python -m alerts.generate``."""
