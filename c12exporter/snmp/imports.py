"""pysnmp imported without the parts an agent of this configuration does not use.

pysnmp imports, whatever it is asked to do, pysmi's whole compiler (to compile MIBs on
demand) and the ``cryptography`` package (for SNMPv3 privacy). The agent never asks
pysnmp to compile a MIB (:mod:`.mibcompile` compiles C12-PDU-MIB into its cache) and
needs privacy only for SNMPv3 users: an agent that serves SNMPv2c alone holds neither
(together about 15 MiB resident). Each is hidden while pysnmp's modules that look for it
are imported, which then count it as not installed; :func:`with_privacy` brings
``cryptography`` back into them when the first SNMPv3 user is configured.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

PRIVACY_MODULES = (
    "pysnmp.proto.secmod.rfc3414.priv.des",
    "pysnmp.proto.secmod.rfc3826.priv.aes",
    "pysnmp.proto.secmod.eso.priv.des3",
)
"""pysnmp's privacy services that import ``cryptography`` when they are imported (and
note ``PysnmpCryptoError`` when it is not there)."""


@contextmanager
def _hidden(package: str) -> Iterator[None]:
    """``import package`` (or any of its modules) fails while inside."""
    sys.modules[package] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules[package]


def import_pysnmp_lean() -> None:
    """Import pysnmp's MIB compiler hook with pysmi's readers hidden and its privacy
    services with ``cryptography`` hidden, each unless already imported (then as it is)."""
    if "pysnmp.smi.compiler" not in sys.modules and "pysmi.reader" not in sys.modules:
        with _hidden("pysmi.reader"):
            importlib.import_module("pysnmp.smi.compiler")
    if "cryptography" not in sys.modules and not set(PRIVACY_MODULES) & sys.modules.keys():
        with _hidden("cryptography"):
            for name in PRIVACY_MODULES:
                importlib.import_module(name)


def with_privacy() -> None:
    """Import ``cryptography`` and import again each of pysnmp's privacy services that was
    imported without it (``importlib.reload``: their objects already held, such as the
    USM's services, find the ciphers in the module on their next call)."""
    importlib.import_module("cryptography.hazmat.primitives.ciphers")
    for name in PRIVACY_MODULES:
        module: ModuleType = importlib.import_module(name)
        if getattr(module, "PysnmpCryptoError", False):
            importlib.reload(module)
