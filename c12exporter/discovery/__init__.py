"""Finding units on a network: address ranges, identification, configs, and the
exporter's own discovery while it serves."""
