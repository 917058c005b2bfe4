"""What a unit or channel name written to a unit may hold: one rule for every writer.

The console's edits and SNMP SETs both write names that are then shown on pages, in
alerts, in logs and on the unit's own display. A name must look like what it is, so
characters that are invisible or change how the text around them shows are refused:
control characters, and Unicode format characters (bidirectional overrides such as
U+202E, zero-width spaces and joiners, the byte-order mark U+FEFF), surrogates and the
line and paragraph separators.
"""

from __future__ import annotations

import unicodedata

REFUSED_CATEGORIES = {
    "Cc": "control characters are not allowed",
    "Cf": "invisible formatting characters (bidirectional overrides, zero-width "
    "characters, byte-order marks) are not allowed",
    "Cs": "lone surrogates are not allowed",
    "Zl": "line separators are not allowed",
    "Zp": "paragraph separators are not allowed",
}
"""Unicode general categories no name may hold, with why."""


def name_refusal(name: str) -> str | None:
    """Why ``name`` cannot be a name (naming the first offending character), or ``None``."""
    for char in name:
        why = REFUSED_CATEGORIES.get(unicodedata.category(char))
        if why is not None:
            label = unicodedata.name(char, "")
            return f"{why} (U+{ord(char):04X}{' ' + label if label else ''})"
    return None
