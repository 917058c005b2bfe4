"""YAML as the config files are read: PyYAML's safe loader, refusing what it would take
silently (a key given twice) and reporting a value that does not fit its tag
(``!!int abc``) as a YAML error at its line, never as an exception carrying the text."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STANDARD_TAG = "tag:yaml.org,2002:"


class _Loader(yaml.SafeLoader):
    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError):
            # e.g. int('...') for !!int: its message holds the value, which may be a secret
            standard = node.tag.startswith(_STANDARD_TAG)
            kind = node.tag.removeprefix(_STANDARD_TAG) if standard else "value for its tag"
            raise ConstructorError(
                None, None, f"the value is not a valid {kind}",
                node.start_mark,
            ) from None  # fmt: skip

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # "<<: *defaults" then a key of its own is how merging works
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first_line:
                    raise ConstructorError(
                        None, None,
                        f"this key is given a second time (first on line {first_line[key] + 1});"
                        " the second would silently replace the first: keep one",
                        key_node.start_mark,
                    )  # fmt: skip
                first_line[key] = key_node.start_mark.line
            except TypeError:
                continue  # unhashable: the safe constructor names it
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """Parse ``text``; :class:`yaml.YAMLError` (with its line and column) if it is not YAML
    or gives a key twice in one mapping."""
    return yaml.load(text, Loader=_Loader)  # a subclass of the safe loader
