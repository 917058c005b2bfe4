"""YAML as the config files are read (the main config, its ``units_files``, the web
config, a config discovery merges into): PyYAML's safe loader, refusing what it would
take silently (a key given twice), reporting a value that does not fit its tag
(``!!int abc``) as a YAML error at its line, never as an exception carrying the text,
and bounding what a hostile file can cost (nesting depth, values once aliases are
expanded). :func:`read_yaml_file` turns every way a file can be wrong (unreadable, not
UTF-8, not YAML, too big) into one :class:`ConfigError` naming the file and the place,
never quoting the file's text: it may hold a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import CollectionNode, MappingNode, Node

from .settings import ConfigError, yaml_problem

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STANDARD_TAG = "tag:yaml.org,2002:"
MAX_FILE_BYTES = 16 * 1024 * 1024
"""A config for 10,000 units is about 1 MB; more is a mistake (or an attack)."""
MAX_DEPTH = 64
"""Nesting of mappings and lists; the config's deepest is 5. Deeper would exhaust the
parser's recursion."""
MAX_VALUES = 1_000_000
"""Values in a document with its aliases expanded: ``&a [x, x]``, ``&b [*a, *a]``, ...
doubles at every line, so a few lines would otherwise make every walk over the
config (checks, messages) take forever."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )  # fmt: skip
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_VALUES:
            raise ComposerError(
                None, None,
                f"more than {MAX_VALUES:,} values once its aliases are expanded",
                node.start_mark,
            )  # fmt: skip
        return node

    def construct_document(self, node: Node) -> Any:
        try:
            return super().construct_document(node)
        except yaml.YAMLError:
            raise
        except Exception:  # a tag's constructor finishing a collection after construct_object
            raise ConstructorError(
                None, None, "a value is not valid for its tag", node.start_mark
            ) from None

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception:  # whatever a tag's constructor raises is about the value
            # e.g. int('...') for !!int, a KeyError for "!!bool null": the message holds the
            # value, which may be a secret
            standard = node.tag.startswith(_STANDARD_TAG)
            kind = node.tag.removeprefix(_STANDARD_TAG) if standard else "value for its tag"
            raise ConstructorError(
                None, None, f"the value is not a valid {kind}",
                node.start_mark,
            ) from None  # fmt: skip

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):  # "!!set null": the safe constructor names it
            return super().construct_mapping(node, deep)
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


_IN_PROGRESS = -1


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias written out (a shared node
    counts each time it is used), in time linear in the nodes themselves."""
    known = sizes.get(id(node))
    if known == _IN_PROGRESS:
        raise ComposerError(
            None, None, "an alias inside the value it names (the value would never end)",
            node.start_mark,
        )  # fmt: skip
    if known is not None:
        return known
    sizes[id(node)] = _IN_PROGRESS
    size = 1
    if isinstance(node, MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes) + _expanded_size(value, sizes)
            if size > MAX_VALUES:
                break
    elif isinstance(node, CollectionNode):
        for item in node.value:
            size += _expanded_size(item, sizes)
            if size > MAX_VALUES:
                break
    sizes[id(node)] = size
    return size


def load_yaml(text: str) -> Any:
    """Parse ``text``; :class:`yaml.YAMLError` (with its line and column) if it is not YAML,
    gives a key twice in one mapping or is beyond :data:`MAX_DEPTH` or :data:`MAX_VALUES`."""
    return yaml.load(text, Loader=_Loader)  # a subclass of the safe loader


def read_yaml_file(path: Path, what: str = "", where: str | None = None) -> Any:
    """Read, decode and parse the YAML file at ``path``.

    :param what: what the file is, for messages (``"the web config"``).
    :param where: the config key that names the file, if it is not the file itself.
    :raises ConfigError: naming the file and the line and column, never its text.
    """
    text = read_text(path, what, where)
    try:
        return load_yaml(text)
    except yaml.reader.ReaderError as error:  # its message quotes the character
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        raise ConfigError(
            f"{path}: not valid YAML: line {line}, column {column}: a control character "
            f"(U+{_code(error.character):04X}) YAML does not allow; remove it"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    except RecursionError:  # a guard beyond MAX_DEPTH: PyYAML's own recursion elsewhere
        raise ConfigError(f"{path}: not valid YAML: nested too deep") from None


def read_text(path: Path, what: str = "", where: str | None = None) -> str:
    """The text of a config file, at most :data:`MAX_FILE_BYTES` of UTF-8.

    :raises ConfigError: as :func:`read_yaml_file`.
    """
    named = where or str(path)
    what = f" {what}" if what else ""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{named}: cannot read{what} {path}: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; is it the right file?"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ConfigError(
            f"{path}: not valid YAML: line {line}, column {column}: a byte that is not "
            "UTF-8; save the file as UTF-8"
        ) from None


def _code(character: int | str) -> int:
    return ord(character) if isinstance(character, str) else character
