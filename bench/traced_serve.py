"""``c12exporter`` with tracemalloc on from the first import: on SIGUSR1 it writes a
snapshot (one frame per allocation) to ``$C12_TRACEMALLOC_FILE`` (``bench/scaling.py
--tracemalloc`` starts the exporter this way and reads the snapshot).

    python bench/traced_serve.py serve --config.file c12.yml
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import tracemalloc

tracemalloc.start(1)

from c12exporter import cli  # noqa: E402  (after tracemalloc starts, so imports are traced)

SNAPSHOT_ENV = "C12_TRACEMALLOC_FILE"


def _dump() -> None:
    gc.collect()
    target = os.environ[SNAPSHOT_ENV]
    tracemalloc.take_snapshot().dump(target + ".tmp")
    os.replace(target + ".tmp", target)  # whole, or not there


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=_dump).start())
    sys.exit(cli.main(sys.argv[1:]))
