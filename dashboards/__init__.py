"""Grafana dashboards generator: ``python -m dashboards.generate``."""
