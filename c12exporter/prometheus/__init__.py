"""The Prometheus exposer: ``/metrics``, ``/probe`` and ``/sd`` on the shared web server."""
