"""What must outlast a restart, in one SQLite file: the state changes of every unit, the
RCBO tests and cycles, the supply checks, and the energy and samples of named jobs
(``docs/history.md``).

:mod:`.db` opens and migrates the file, :mod:`.events` turns readings into state changes,
:mod:`.rcbo` is the RCBO test log, :mod:`.rcbo_session` prompts a test session,
:mod:`.supply` checks a supply before switching on, :mod:`.jobs` accumulates energy per
job, :mod:`.samples` keeps a job's readings over time, :mod:`.recorder` listens to the
store and writes on a thread of its own, :mod:`.report` formats rows, :mod:`.pages` makes
the printable HTML pages, :mod:`.api` serves it all over HTTP, :mod:`.client` is the
commands' side of that, and :mod:`.cli` is the commands.
"""
