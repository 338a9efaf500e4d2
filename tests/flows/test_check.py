"""`gateway flows check`: every problem of a bad flow file is found, with its file and step."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flowkit import CAR, LOCALES, MemoryPlaces, Recorder, numbers

from flows import Catalogs, Engine, FlowDefinitionError, load_flows
from flows.check import LONG_PLACE, check_flows, menu_problems
from flows.loader import check_flow_file
from flows.render import Menu
from gateway.commands.flows import flows_group

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD, BAD = FIXTURES / "good", FIXTURES / "bad"


@pytest.fixture(scope="module")
def bad_problems():
    """Check the bad fixture once."""
    return check_flows(BAD / "definitions", BAD / "locales")


def test_good_flows_pass_in_every_language():
    assert check_flows(GOOD / "definitions", GOOD / "locales") == []


def test_shipped_flows_pass_in_english_and_french():
    assert check_flows(None, LOCALES, ["en", "fr"]) == []


@pytest.mark.parametrize(
    ("kind", "file", "step", "lang", "text"),
    [
        ("unknown-step", "report.yaml", "ask", None, "next step 'missing' does not exist"),
        ("unknown-flow", "main.yaml", "menu", None, "goes to unknown flow 'nowhere'"),
        ("unreachable", "main.yaml", "lonely", None, "cannot be reached from 'language'"),
        ("unreachable", "orphan.yaml", None, None, "flow cannot be reached from 'main'"),
        ("dead-end", "report.yaml", "loop", None, "no way on from this step reaches an end"),
        ("duplicate-step", "report.yaml", "done", None, "duplicate step name 'done'"),
        ("duplicate-number", "report.yaml", "ask", None, "'One' and 'Two' both have number 1"),
        ("reserved-number", "main.yaml", "menu", None, "number 98 is reserved"),
        ("duplicate-label", "report.yaml", "ask", "fr", "options 5 and 6 read the same"),
        ("missing-translation", "report.yaml", "ask", "fr", "not in the catalog: 'Two'"),
        ("missing-translation", "report.yaml", "ask", "fr", "missing translation: 'Three'"),
        ("placeholder-mismatch", "report.yaml", "done", "fr", "%(ref)s in the translation"),
        ("screen-too-long", "report.yaml", "long", "fr", "the question is cut to"),
        ("screen-too-long", "report.yaml", "long", "ar", "the question is cut to"),
        ("screen-too-long", "report.yaml", "long", "ar", "option 1 is cut to fit on page 1"),
        ("screen-too-long", "report.yaml", "done", "ar", "84/80 UTF-16 units"),
    ],
)
def test_bad_flow_problem_is_reported(bad_problems, kind, file, step, lang, text):
    found = [
        p for p in bad_problems
        if p.kind == kind and Path(p.file).name == file and p.step == step and p.language == lang
    ]
    assert any(text in p.message for p in found), [str(p) for p in bad_problems]


def test_each_problem_is_reported_once_and_only_where_it_is(bad_problems):
    lines = [str(p) for p in bad_problems]
    assert len(lines) == len(set(lines)) == 16  # the draft (fuzzy) French label is no problem
    # Arabic is complete, English is the source: only French lacks translations.
    assert {p.language for p in bad_problems if p.kind == "missing-translation"} == {"fr"}


def test_loader_collects_every_problem_of_one_file_but_start_up_stops_at_the_first():
    kinds = {p.kind for p in check_flow_file(BAD / "definitions" / "report.yaml")}
    assert kinds == {"duplicate-step", "duplicate-number", "unknown-step"}
    with pytest.raises(FlowDefinitionError, match=r"main\.yaml: step 'menu'.*98 is reserved"):
        load_flows(BAD / "definitions")


def test_a_screen_over_the_limit_after_paging_names_its_size_and_page():
    menu = Menu(
        header="Where?", labels=["Bangui"], more="More", back="ر" * 90, can_back=True,
        hint="Choose a number below.",
    )
    found = menu_problems(menu, "Where?", "Choose a number below.")
    assert "screen over the limit: 101/80 UTF-16 units on page 1" in found


def test_cli_prints_one_line_per_problem_and_exits_1():
    result = CliRunner().invoke(
        flows_group,
        ["check", "--definitions", str(BAD / "definitions"), "--locales", str(BAD / "locales")],
    )
    assert result.exit_code == 1
    assert (
        "report.yaml: step 'done' [ar]: screen over the limit: 84/80 UTF-16 units"
        in result.output
    )
    assert "flows check: 16 problem(s)" in result.output


def test_cli_passes_good_flows():
    result = CliRunner().invoke(
        flows_group,
        ["check", "--definitions", str(GOOD / "definitions"), "--locales", str(GOOD / "locales")],
    )
    assert result.exit_code == 0, result.output
    assert "no problem" in result.output


def test_cli_checks_only_the_languages_asked():
    args = ["check", "--definitions", str(BAD / "definitions"), "--locales", str(BAD / "locales")]
    result = CliRunner().invoke(flows_group, [*args, "--languages", "en"])
    assert result.exit_code == 1
    assert "[fr]" not in result.output and "[ar]" not in result.output


def test_an_explicit_number_is_shown_and_accepted_on_its_page():
    flows = load_flows(GOOD / "definitions")
    engine = Engine(flows, Catalogs(GOOD / "locales", ["en"]), MemoryPlaces(CAR), ["en"], "en")
    state, screen = engine.begin("en")
    assert numbers(screen) == {"1": "Tell us", "9": "Change language"}
    _, same = engine.advance(state, "2", Recorder())
    assert same.text.startswith("Choose a number below.")
    state, chosen = engine.advance(state, "9", Recorder())
    assert state["step"] == "language" and "English" in chosen.text


def test_sample_place_is_thirty_characters():
    assert len(LONG_PLACE) == 30


def test_explicit_numbers_stay_across_pages_and_only_the_shown_ones_count():
    labels = [f"Place with a rather long name {i:02d}" for i in range(12)]
    menu = Menu(
        header="Where?", labels=labels, more="More", back="Back", can_back=True,
        hint="Choose a number below.", numbers=[20 + i for i in range(12)],
    )
    assert len(menu.pages) > 1
    index = menu.pages[1][0]
    assert f"{20 + index} {labels[index]}" in menu.render(1).split("\n")
    assert menu.choose(1, 20 + index) == index
    assert menu.choose(0, 20 + index) is None
