"""What must outlast a restart, in one SQLite file: the state changes of every unit, the
RCBO test log and the energy of named jobs (``docs/history.md``).

:mod:`.db` opens and migrates the file, :mod:`.events` turns readings into state changes,
:mod:`.rcbo` finds breaker cycles, :mod:`.jobs` accumulates energy per job,
:mod:`.recorder` listens to the store and writes on a thread of its own, :mod:`.report`
formats rows, :mod:`.api` serves jobs over HTTP and :mod:`.cli` is the commands.
"""
