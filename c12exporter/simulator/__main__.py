"""``python -m c12exporter.simulator``: run a simulated fleet."""

from .cli import main

main()
