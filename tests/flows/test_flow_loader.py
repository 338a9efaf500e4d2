"""Loading flow definitions: the shipped ones load, bad ones are refused naming the step."""

from pathlib import Path

import pytest

from flows import FlowDefinitionError, load_flows

GOOD_MAIN = """
start: language
steps:
  language:
    type: language
    next: menu
  menu:
    type: menu
    text: Choose
    options:
      - label: Go
        flow: other
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_flows_load():
    flows = load_flows()
    assert {"main", "alert"} <= set(flows)
    assert flows["alert"].steps["sent"].submit


def test_yes_no_stay_text(tmp_path):
    write(tmp_path, "main", GOOD_MAIN)
    write(tmp_path, "other", """
start: q
steps:
  q:
    type: menu
    text: Sure?
    save: sure
    next: done
    options:
      - {label: "Yes", value: yes}
      - {label: "No", value: no}
  done: {type: end, text: Bye, submit: true}
""")
    options = load_flows(tmp_path)["other"].steps["q"].options
    assert [o.value for o in options] == ["yes", "no"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("""
start: q
steps:
  q:
    type: menu
    text: Pick
    options:
      - {label: A, next: nowhere}
""", "step 'q': next step 'nowhere' does not exist"),
        ("""
start: q
steps:
  q:
    type: menu
    text: Pick
    save: x
    next: e
    options:
      - {label: A, value: a}
      - {label: B, value: a}
  e: {type: end, text: Bye}
""", "step 'q': duplicate option value 'a'"),
        ("""
start: q
steps:
  q: {type: question, text: Pick}
""", "step 'q': unknown step type 'question'"),
        ("""
start: q
steps:
  q: {type: end, text: Bye, nxt: q}
""", "step 'q': unknown keys"),
        ("""
start: q
steps:
  q: {type: location, text: "Where?", save: location}
""", "step 'q': 'next' is required"),
        ("""
start: q
steps:
  q: {type: end, text: Bye}
  q: {type: end, text: Again}
""", "duplicate key 'q'"),
        ("""
start: missing
steps:
  q: {type: end, text: Bye}
""", "start step 'missing'"),
    ],
)
def test_bad_flow_is_refused(tmp_path, body, message):
    write(tmp_path, "main", GOOD_MAIN)
    write(tmp_path, "other", body)
    with pytest.raises(FlowDefinitionError) as info:
        load_flows(tmp_path)
    assert "other.yaml" in str(info.value)
    assert message in str(info.value)


def test_jump_to_unknown_flow_is_refused(tmp_path):
    write(tmp_path, "main", GOOD_MAIN)
    with pytest.raises(FlowDefinitionError, match=r"main\.yaml: step 'menu'.*unknown flow 'other'"):
        load_flows(tmp_path)
