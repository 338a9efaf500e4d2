"""A Babel extractor for the flow definitions: every text and label is a msgid."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

import yaml

# Keys whose values callers read; everything else (names, values, next) is not translated.
TRANSLATABLE_KEYS = ("text", "label")
NOTE_KEY = "note"
# Structure words left out of the "where" a translator reads (step > option 2).
_SKIP = ("steps", "options")


def extract_flows(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Yield (lineno, funcname, message, comments) for each text and label of a flow file."""
    node = yaml.compose(fileobj, Loader=yaml.SafeLoader)
    if node is None:
        return
    tag = next(iter(comment_tags), None)
    yield from _walk(node, [], tag)


def _walk(
    node: yaml.Node, path: list[str], tag: str | None
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value, start=1):
            yield from _walk(item, [*path, f"option {index}"], tag)
    elif isinstance(node, yaml.MappingNode):
        pairs = [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        note = next(
            (v.value for k, v in pairs if k == NOTE_KEY and isinstance(v, yaml.ScalarNode)), None
        )
        for key, value in pairs:
            if key in TRANSLATABLE_KEYS and isinstance(value, yaml.ScalarNode):
                if not value.value.strip():
                    continue
                comments = []
                if tag:
                    where = " > ".join(p for p in path if p not in _SKIP) or "flow"
                    comments.append(f"{tag} {where} ({key})")
                    if note:
                        comments.append(f"{tag} {note}")
                yield value.start_mark.line + 1, None, value.value, comments
            elif key != NOTE_KEY:
                yield from _walk(value, [*path, str(key)], tag)
