"""Read flow definitions from YAML files and refuse any that are wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.errors import FlowDefinitionError
from flows.model import ACCEPTS, CHANNELS, FLAGS, STEP_TYPES, Flow, Option, Problem, Step
from flows.render import BACK_NUMBER, MORE_NUMBER, RESERVED, option_number

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"

_STEP_KEYS = {
    "language": {"type", "text", "next", "note"},
    "menu": {"type", "text", "save", "next", "options", "channels", "note"},
    "location": {"type", "text", "save", "next", "note"},
    "input": {"type", "text", "save", "next", "accept", "options", "channels", "note"},
    "end": {"type", "text", "submit", "note"},
}
_OPTION_KEYS = {"label", "value", "next", "flow", "number", "requires", "skip", "note"}
# Numbers an option may be given with `number:` (0 is Back, 98 More).
OPTION_NUMBERS = (*range(1, 98), 99)
_FLOW_KEYS = {"start", "steps", "note"}
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers the line it started on."""

    line = 0


class _Loader(yaml.SafeLoader):
    """A safe loader that keeps yes/no as text and refuses duplicate keys."""

    # Collecting mode: duplicate keys are noted here (key, line) and the first one is kept.
    duplicates: list[tuple[Any, int]] | None = None


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
            if loader.duplicates is None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            loader.duplicates.append((key, key_node.start_mark.line + 1))
            continue
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Report:
    """Where problems go: raised at the first one (start-up) or collected (the flow checker)."""

    def __init__(self, where: str, collect: bool) -> None:
        self.where = where
        self.collect = collect
        self.problems: list[Problem] = []

    def add(self, step: str | None, kind: str, message: str) -> None:
        problem = Problem(file=self.where, step=step, kind=kind, message=message)
        if not self.collect:
            raise FlowDefinitionError(str(problem))
        self.problems.append(problem)


def load_flows(directory: str | Path | None = None) -> dict[str, Flow]:
    """Load and check every *.yaml flow in directory (default: flows/definitions)."""
    return _load_all(directory, collect=False)[0]


def collect_flows(directory: str | Path | None = None) -> tuple[dict[str, Flow], list[Problem]]:
    """Parse every flow file as far as possible, collecting every problem instead of raising."""
    return _load_all(directory, collect=True)


def load_flow_file(path: str | Path) -> Flow:
    """Parse one flow file and check it on its own (flow jumps are checked by load_flows)."""
    flow = _parse_flow_file(Path(path), collect=False)[0]
    assert flow is not None  # a flow file that cannot be used has raised
    return flow


def check_flow_file(path: str | Path) -> list[Problem]:
    """List every problem of one flow file on its own (flow jumps: collect_flows)."""
    return _parse_flow_file(Path(path), collect=True)[1]


def _load_all(
    directory: str | Path | None, collect: bool
) -> tuple[dict[str, Flow], list[Problem]]:
    root = Path(directory) if directory is not None else DEFINITIONS_DIR
    paths = sorted(root.glob("*.yaml"))
    if not paths:
        report = _Report(str(root), collect)
        report.add(None, "no-flows", "no flow files (*.yaml) found")
        return {}, report.problems
    flows: dict[str, Flow] = {}
    problems: list[Problem] = []
    for path in paths:
        flow, found = _parse_flow_file(path, collect)
        problems += found
        if flow is not None:
            flows[flow.name] = flow
    names = {path.stem for path in paths}
    for flow in flows.values():
        report = _Report(flow.path, collect)
        for step in flow.steps.values():
            for option in step.options:
                if option.flow is not None and option.flow not in names:
                    report.add(
                        step.name, "unknown-flow",
                        f"option {option.label!r} goes to unknown flow {option.flow!r}",
                    )
                _check_skip(report, step, option, flows.get(option.flow or ""))
        problems += report.problems
    return flows, problems


def _read_yaml(path: Path, duplicates: list[tuple[Any, int]] | None) -> Any:
    with path.open(encoding="utf-8") as fh:
        loader = _Loader(fh)  # a SafeLoader
        loader.duplicates = duplicates
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()


def _parse_flow_file(path: Path, collect: bool) -> tuple[Flow | None, list[Problem]]:
    """Parse one flow file; the flow is None when it cannot be used at all."""
    report = _Report(str(path), collect)
    duplicates: list[tuple[Any, int]] | None = [] if collect else None
    try:
        data = _read_yaml(path, duplicates)
    except (OSError, yaml.YAMLError) as exc:
        report.add(None, "unreadable", f"cannot read flow: {exc}")
        return None, report.problems
    if not isinstance(data, dict):
        report.add(None, "not-a-flow", "a flow file must be a mapping with start and steps")
        return None, report.problems
    unknown = set(data) - _FLOW_KEYS
    if unknown:
        report.add(None, "unknown-key", f"unknown keys {sorted(map(str, unknown))}")
    steps_data = data.get("steps")
    if not isinstance(steps_data, dict) or not steps_data:
        report.add(None, "no-steps", "'steps' must be a non-empty mapping")
        return None, report.problems
    for key, line in duplicates or []:
        if key in steps_data:
            report.add(str(key), "duplicate-step", f"duplicate step name {key!r} (line {line})")
        else:
            report.add(None, "duplicate-key", f"duplicate key {key!r} (line {line})")
    steps = {}
    for name, raw in steps_data.items():
        step = _parse_step(report, str(name), raw)
        if step is not None:
            steps[step.name] = step
    start = data.get("start")
    if start not in steps_data:
        report.add(None, "unknown-step", f"start step {start!r} is not one of the steps")
    names = {str(name) for name in steps_data}
    for step in steps.values():
        _check_targets(report, step, names)
    if start not in steps:
        return None, report.problems
    return Flow(name=path.stem, start=str(start), steps=steps, path=str(path)), report.problems


def _text(report: _Report, step: str, raw: dict[str, Any], key: str, required: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            report.add(step, "dead-end" if key == "next" else "missing-key", f"'{key}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        report.add(step, "bad-value", f"'{key}' must be non-empty text")
        return None
    return value


def _parse_step(report: _Report, name: str, raw: Any) -> Step | None:
    if not isinstance(raw, dict):
        report.add(name, "bad-step", "a step must be a mapping with a type")
        return None
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        report.add(
            name, "bad-step", f"unknown step type {kind!r} (one of {', '.join(STEP_TYPES)})"
        )
        return None
    unknown = set(raw) - _STEP_KEYS[kind]
    if unknown:
        report.add(
            name, "unknown-key", f"unknown keys for a {kind} step: {sorted(map(str, unknown))}"
        )
    line = getattr(raw, "line", 0)
    text = _text(report, name, raw, "text", required=kind != "language")
    save = _text(report, name, raw, "save", required=kind in ("location", "input"))
    next_step = _text(
        report, name, raw, "next", required=kind in ("language", "location", "input")
    )
    submit = _flag(report, name, raw.get("submit", False))
    options: tuple[Option, ...] = ()
    if kind == "menu" or (kind == "input" and "options" in raw):
        options = _parse_options(report, name, raw.get("options"), next_step)
    accept = None
    if kind == "input":
        accept = raw.get("accept", "text")
        if accept not in ACCEPTS:
            report.add(name, "bad-value", f"'accept' must be one of {', '.join(ACCEPTS)}")
    channels = raw.get("channels", [])
    if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
        report.add(name, "bad-value", f"'channels' must be a list of {', '.join(CHANNELS)}")
        channels = []
    if channels and not next_step:
        report.add(name, "dead-end", "a step shown on some channels only needs a 'next'")
    return Step(
        name=name, type=kind, text=text, save=save, next=next_step,
        submit=submit, options=options, line=line, accept=accept, channels=tuple(channels),
    )


def _flag(report: _Report, step: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    report.add(step, "bad-value", f"'submit' must be true or false, not {value!r}")
    return False


def _parse_options(
    report: _Report, step: str, raw: Any, step_next: str | None
) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        report.add(step, "dead-end", "a menu step needs a non-empty list of options")
        return ()
    options: list[Option] = []
    seen_values: set[str] = set()
    seen_labels: set[str] = set()
    numbers: dict[int, str] = {}
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            report.add(step, "bad-option", f"option {index} must be a mapping with a label")
            continue
        unknown = set(item) - _OPTION_KEYS
        if unknown:
            report.add(
                step, "unknown-key", f"option {index}: unknown keys {sorted(map(str, unknown))}"
            )
        label = _text(report, step, item, "label", required=True)
        if label is None:
            continue
        if label in seen_labels:
            report.add(step, "duplicate-label", f"duplicate option label {label!r}")
        seen_labels.add(label)
        value = item.get("value")
        if isinstance(value, int | float):
            value = str(value)
        if value is not None and not isinstance(value, str):
            report.add(step, "bad-value", f"option {label!r}: value must be text")
            value = None
        if "value" in item and value is not None:
            if value in seen_values:
                report.add(step, "duplicate-value", f"duplicate option value {value!r}")
            seen_values.add(value)
        nxt = _text(report, step, item, "next", required=False)
        flow = _text(report, step, item, "flow", required=False)
        if nxt and flow:
            report.add(step, "bad-option", f"option {label!r} has both next and flow: keep one")
        if not (nxt or flow or step_next):
            report.add(step, "dead-end", f"option {label!r} leads nowhere: give next or flow")
        number = _number(report, step, label, item)
        requires, skip = _condition(report, step, label, item)
        shown = number if number is not None else option_number(len(options))
        if shown in numbers:
            report.add(
                step, "duplicate-number",
                f"options {numbers[shown]!r} and {label!r} both have number {shown}",
            )
        numbers.setdefault(shown, label)
        options.append(
            Option(
                label=label, value=value, has_value="value" in item, next=nxt, flow=flow,
                line=getattr(item, "line", 0), number=number, requires=requires, skip=skip,
            )
        )
    return tuple(options)


def _condition(
    report: _Report, step: str, label: str, item: dict[str, Any]
) -> tuple[str | None, tuple[str, ...]]:
    """Return the option's `requires:` flag (or None) and its `skip:` step names."""
    requires = item.get("requires")
    if requires is not None and requires not in FLAGS:
        report.add(step, "bad-value",
                   f"option {label!r}: 'requires' must be one of {', '.join(FLAGS)}")
        requires = None
    skip = item.get("skip", [])
    if not isinstance(skip, list) or not all(isinstance(name, str) for name in skip):
        report.add(step, "bad-value", f"option {label!r}: 'skip' must be a list of step names")
        skip = []
    if skip and not item.get("flow"):
        report.add(step, "bad-option", f"option {label!r}: 'skip' needs a 'flow'")
        skip = []
    return requires, tuple(skip)


def _check_skip(report: _Report, step: Step, option: Option, target: Flow | None) -> None:
    """A step an option skips must be a step of its flow that goes on (has a `next`)."""
    if target is None:
        return
    for name in option.skip:
        skipped = target.steps.get(name)
        if skipped is None or skipped.next is None or name == target.start:
            report.add(
                step.name, "bad-option",
                f"option {option.label!r} skips {name!r}: not a step of {target.name!r} "
                "with a 'next' (nor its start)",
            )


def _number(report: _Report, step: str, label: str, item: dict[str, Any]) -> int | None:
    """Return the option's explicit `number:`, or None (numbered by its position)."""
    if "number" not in item:
        return None
    number = item["number"]
    if number in RESERVED and not isinstance(number, bool):
        report.add(
            step, "reserved-number",
            f"option {label!r}: number {number} is reserved "
            f"({BACK_NUMBER} is Back, {MORE_NUMBER} is More)",
        )
        return None
    if isinstance(number, bool) or number not in OPTION_NUMBERS:
        report.add(step, "bad-number", f"option {label!r}: number must be 1 to 97 or 99")
        return None
    return int(number)


def _check_targets(report: _Report, step: Step, names: set[str]) -> None:
    targets = [step.next] + [option.next for option in step.options]
    for target in dict.fromkeys(targets):
        if target is not None and target not in names:
            report.add(step.name, "unknown-step", f"next step {target!r} does not exist")
