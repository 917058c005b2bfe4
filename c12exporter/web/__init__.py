"""The shared web server: one listen address, TLS and basic auth for every exposer's routes."""
