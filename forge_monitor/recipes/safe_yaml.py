"""YAML (and JSON) text from users, read with bounds: size, nesting depth and alias expansion.

``yaml.safe_load`` refuses code but not cost. Aliases are shared, not copied, so a 919-byte file of
nine levels of ten aliases each loads at once; it is every walk over the result (listing a recipe's
fields) that expands it to 10**9 paths (audit 2026-11-29 H4: 11.7 GB in 60 s). libyaml's composer
recurses in C, so a deeply nested flow (``[[[[...`` 100,000 deep) overflows the C stack and kills the
process. Both are measured on the event stream first, which is flat and stops at the first excess:
the *expanded* node count (what a walk would visit) and the nesting depth. Then the C loader
(``CSafeLoader``) builds the data.
"""

from __future__ import annotations

import os
import stat

import yaml

MAX_BYTES = 1 << 20  # a recipe, hyperparameters or metric definitions: a few KB in practice
MAX_DEPTH = 100  # nesting levels; published recipes use under 10
MAX_NODES = 100_000  # nodes after alias expansion; published recipes have a few hundred

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class UnsafeYAML(ValueError):
    """Text refused before it is built: too large, too deep, or aliases expanding too far."""


def check_size(n_bytes: int, name: str) -> None:
    if n_bytes > MAX_BYTES:
        raise UnsafeYAML(f"{name}: larger than {MAX_BYTES >> 20} MB; not read")


def read_bounded(path, name: str) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES. Never opens anything else: a FIFO would block
    until a writer comes and ``/dev/zero`` never ends. Raises OSError, or UnsafeYAML for a large file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        data = handle.read(MAX_BYTES + 1)
    check_size(len(data), name)
    return data


def _measure(text: str, name: str) -> None:
    """Raise UnsafeYAML when the text nests deeper than MAX_DEPTH or expands past MAX_NODES."""
    total = 0  # nodes so far with every alias expanded, in document order
    depth = 0
    open_anchors: dict[str, int] = {}  # anchor of a collection not closed yet -> ``total`` at its start
    stack: list[str | None] = []
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names
    aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, _STARTS):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeYAML(f"{name}: nested more than {MAX_DEPTH} levels deep; not read")
            stack.append(event.anchor)
            if event.anchor:
                open_anchors[event.anchor] = total
            total += 1
        elif isinstance(event, _ENDS):
            depth -= 1
            anchor = stack.pop() if stack else None
            if anchor is not None and anchor in open_anchors:
                sizes[anchor] = total - open_anchors.pop(anchor)
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise UnsafeYAML(f"{name}: alias *{event.anchor} refers to a collection that contains it; not read")
            total += sizes.get(event.anchor, 1)
            aliases += 1
        if total > MAX_NODES:
            if aliases:
                raise UnsafeYAML(f"{name}: aliases expand to more than {MAX_NODES:,} values (a YAML alias bomb?); not read")
            raise UnsafeYAML(f"{name}: more than {MAX_NODES:,} values; not read")


def load_text(text: str, name: str):
    """The data of one YAML (or JSON) document. Raises yaml.YAMLError for bad syntax and UnsafeYAML
    (a ValueError) for text refused on size, depth or expansion, or a value that cannot be built."""
    check_size(len(text.encode("utf-8", errors="replace")) if len(text) > MAX_BYTES >> 2 else len(text), name)
    _measure(text, name)
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader: CSafeLoader or SafeLoader
    except (RecursionError, MemoryError):
        raise UnsafeYAML(f"{name}: too deeply nested or too large to read") from None
    except ValueError as err:  # int() of a 5,000-digit number: "Exceeds the limit (4300 digits)"
        raise UnsafeYAML(f"{name}: a number cannot be read ({err})") from None
