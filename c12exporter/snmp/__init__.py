"""The SNMP agent: serves C12-PDU-MIB from the store, sends its notifications.

* :mod:`.config` - the ``snmp:`` config section, validated.
* :mod:`.mibcompile` - C12-PDU-MIB compiled by pysmi into a cache and loaded by name.
* :mod:`.ber` - the few BER encodings the agent writes itself (pre-encoded cells).
* :mod:`.cells` - what each readable column holds, from a :class:`~c12exporter.reading.Reading`.
* :mod:`.unitindex` - c12UnitIndex: each unit's number, kept in the state directory.
* :mod:`.mibtree` - the OID table built from store snapshots, with Get/GetNext lookups;
  it follows the store's fleet changes.
* :mod:`.answers` - Get, GetNext and GetBulk answered from that table.
* :mod:`.responders` - pysnmp command responders giving those answers.
* :mod:`.fastpath` - SNMPv2c read requests answered before pysnmp's message processing.
* :mod:`.writes` - Set: validation and the write-through, by the poller's write path.
* :mod:`.notifications` - traps and informs on state changes.
* :mod:`.stats` - what the agent counts about itself on the exporter's telemetry.
* :mod:`.agent` - the pysnmp engine: transport, USM users, VACM, and the pieces above.

The exposer plugin that starts it is :mod:`c12exporter.snmp.plugin`.
"""

import sys


def _pysnmp_without_its_mib_compiler() -> None:
    """Import ``pysnmp.smi.compiler`` with pysmi's readers hidden.

    When pysmi is installed, pysnmp's ``smi.compiler`` imports pysmi's whole compiler
    (with requests, jinja2 and lark: about 9 MiB resident) to compile MIBs on demand,
    which the agent never asks of it: :mod:`.mibcompile` compiles C12-PDU-MIB into its
    cache (importing pysmi then, only when the cache lacks it) and pysnmp loads it
    compiled. Hidden while pysnmp looks, pysmi counts as not installed to pysnmp, which
    then adds no compiler where one is optional and refuses where one is asked for.
    """
    hidden = "pysmi.reader"
    if "pysnmp.smi.compiler" in sys.modules or hidden in sys.modules:
        return
    sys.modules[hidden] = None  # type: ignore[assignment]
    try:
        import pysnmp.smi.compiler  # type: ignore[import-untyped]  # noqa: F401
    finally:
        del sys.modules[hidden]


_pysnmp_without_its_mib_compiler()
