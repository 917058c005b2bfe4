"""The SNMP agent: serves C12-PDU-MIB from the store, sends its notifications.

* :mod:`.imports` - pysnmp imported without its MIB compiler, and without ``cryptography``
  until an SNMPv3 user is configured.
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

from .imports import import_pysnmp_lean

import_pysnmp_lean()
