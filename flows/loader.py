"""Read flow definitions from YAML files and refuse any that are wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.errors import FlowDefinitionError
from flows.model import STEP_TYPES, Flow, Option, Step

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"

_STEP_KEYS = {
    "language": {"type", "text", "next", "note"},
    "menu": {"type", "text", "save", "next", "options", "note"},
    "location": {"type", "text", "save", "next", "note"},
    "end": {"type", "text", "submit", "note"},
}
_OPTION_KEYS = {"label", "value", "next", "flow", "note"}
_FLOW_KEYS = {"start", "steps", "note"}
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers the line it started on."""

    line = 0


class _Loader(yaml.SafeLoader):
    """A safe loader that keeps yes/no as text and refuses duplicate keys."""


# yes/no/on/off are answers in our flows, not booleans: drop YAML 1.1's boolean guessing.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_flows(directory: str | Path | None = None) -> dict[str, Flow]:
    """Load and check every *.yaml flow in directory (default: flows/definitions)."""
    root = Path(directory) if directory is not None else DEFINITIONS_DIR
    flows = {path.stem: load_flow_file(path) for path in sorted(root.glob("*.yaml"))}
    if not flows:
        raise FlowDefinitionError(f"{root}: no flow files (*.yaml) found")
    for flow in flows.values():
        for step in flow.steps.values():
            for option in step.options:
                if option.flow is not None and option.flow not in flows:
                    raise FlowDefinitionError(
                        f"{flow.path}: step {step.name!r}: option {option.label!r} "
                        f"goes to unknown flow {option.flow!r}"
                    )
    return flows


def load_flow_file(path: str | Path) -> Flow:
    """Parse one flow file and check it on its own (flow jumps are checked by load_flows)."""
    path = Path(path)
    where = str(path)
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except (OSError, yaml.YAMLError) as exc:
        raise FlowDefinitionError(f"{where}: cannot read flow: {exc}") from exc
    if not isinstance(data, dict):
        raise FlowDefinitionError(f"{where}: a flow file must be a mapping with start and steps")
    unknown = set(data) - _FLOW_KEYS
    if unknown:
        raise FlowDefinitionError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    steps_data = data.get("steps")
    if not isinstance(steps_data, dict) or not steps_data:
        raise FlowDefinitionError(f"{where}: 'steps' must be a non-empty mapping")
    steps = {}
    for name, raw in steps_data.items():
        steps[str(name)] = _parse_step(where, str(name), raw)
    start = data.get("start")
    if start not in steps:
        raise FlowDefinitionError(f"{where}: start step {start!r} is not one of the steps")
    for step in steps.values():
        _check_targets(where, step, steps)
    return Flow(name=path.stem, start=str(start), steps=steps, path=where)


def _fail(where: str, step: str, problem: str) -> FlowDefinitionError:
    return FlowDefinitionError(f"{where}: step {step!r}: {problem}")


def _text(where: str, step: str, raw: dict[str, Any], key: str, required: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise _fail(where, step, f"'{key}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, step, f"'{key}' must be non-empty text")
    return value


def _parse_step(where: str, name: str, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise _fail(where, name, "a step must be a mapping with a type")
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        raise _fail(where, name, f"unknown step type {kind!r} (one of {', '.join(STEP_TYPES)})")
    unknown = set(raw) - _STEP_KEYS[kind]
    if unknown:
        raise _fail(where, name, f"unknown keys for a {kind} step: {sorted(map(str, unknown))}")
    line = getattr(raw, "line", 0)
    text = _text(where, name, raw, "text", required=kind != "language")
    save = _text(where, name, raw, "save", required=kind == "location")
    next_step = _text(where, name, raw, "next", required=kind in ("language", "location"))
    submit = _flag(where, name, raw.get("submit", False))
    options: tuple[Option, ...] = ()
    if kind == "menu":
        options = _parse_options(where, name, raw.get("options"), next_step)
    return Step(
        name=name, type=kind, text=text, save=save, next=next_step,
        submit=submit, options=options, line=line,
    )


def _flag(where: str, step: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _fail(where, step, f"'submit' must be true or false, not {value!r}")


def _parse_options(
    where: str, step: str, raw: Any, step_next: str | None
) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, step, "a menu step needs a non-empty list of options")
    options: list[Option] = []
    seen_values: set[str] = set()
    seen_labels: set[str] = set()
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise _fail(where, step, f"option {index} must be a mapping with a label")
        unknown = set(item) - _OPTION_KEYS
        if unknown:
            raise _fail(where, step, f"option {index}: unknown keys {sorted(map(str, unknown))}")
        label = _text(where, step, item, "label", required=True)
        assert label is not None
        if label in seen_labels:
            raise _fail(where, step, f"duplicate option label {label!r}")
        seen_labels.add(label)
        value = item.get("value")
        if isinstance(value, int | float):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise _fail(where, step, f"option {label!r}: value must be text")
        if "value" in item and value is not None:
            if value in seen_values:
                raise _fail(where, step, f"duplicate option value {value!r}")
            seen_values.add(value)
        nxt = _text(where, step, item, "next", required=False)
        flow = _text(where, step, item, "flow", required=False)
        if nxt and flow:
            raise _fail(where, step, f"option {label!r} has both next and flow: keep one")
        if not (nxt or flow or step_next):
            raise _fail(where, step, f"option {label!r} leads nowhere: give next or flow")
        options.append(
            Option(
                label=label, value=value, has_value="value" in item, next=nxt, flow=flow,
                line=getattr(item, "line", 0),
            )
        )
    return tuple(options)


def _check_targets(where: str, step: Step, steps: dict[str, Step]) -> None:
    targets = [step.next] + [option.next for option in step.options]
    for target in targets:
        if target is not None and target not in steps:
            raise _fail(where, step.name, f"next step {target!r} does not exist")
