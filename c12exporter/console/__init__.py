"""The fleet console: the C12B's own web interface, for every unit at once (exposer
``console``, served at ``/`` on the shared web server). See ``docs/console.md``."""
