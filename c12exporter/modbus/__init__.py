"""The built-in transport ``modbus-tcp``: the C12B's Modbus TCP interface.

The register map (:mod:`c12exporter.modbus.registermap`) is the interface both sides share: this
package reads and decodes it for the exporter, the simulator encodes and serves it.
"""
