"""Check the flows as callers meet them: structure, translations and screens, every problem."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from flows import messages
from flows.catalog_check import SOURCE_LANGUAGE, entry_problem, load_catalog, placeholders
from flows.engine import MAIN_FLOW, Engine, fold_words
from flows.gsm import fits_ussd, is_gsm7, ussd_length, ussd_limit
from flows.i18n import Catalogs, Language, load_languages
from flows.loader import collect_flows
from flows.model import Flow, Place, Problem, Step
from flows.render import CON, END, Menu

# A placeholder at its longest: a case reference has up to 8 digits.
SAMPLE_VALUE = "12345678"
# Long place names as deployments have them (accents outside GSM-7 included), and one of 30.
LONG_PLACE = "Nana-Mambéré Haute-Sangha Nord"
SAMPLE_PLACES = (
    "République centrafricaine", "Mambéré-Kadéï", "Bamingui-Bangoran", "Nana-Grébizi",
    "Ouham-Pendé", "Haute-Kotto", "Basse-Kotto", "Haut-Mbomou", "8e arrondissement", LONG_PLACE,
)
TOO_LONG = "screen over the limit"
Node = tuple[str, str]


class SamplePlaces:
    """Long place names two levels deep: the worst case of a location screen."""

    def __init__(self, names: Iterable[str] = SAMPLE_PLACES) -> None:
        names = list(names)
        self._top = [Place(f"S{i:02d}", name, True) for i, name in enumerate(names)]
        self._below = {
            top.pcode: [Place(f"{top.pcode}{i:02d}", name, False) for i, name in enumerate(names)]
            for top in self._top
        }
        self._all = {p.pcode: p for p in self._top + sum(self._below.values(), [])}

    def children(self, pcode: str | None) -> list[Place]:
        """Return the places under pcode, sorted by name."""
        found = self._top if pcode is None else self._below.get(pcode, [])
        return sorted(found, key=lambda place: place.name)

    def get(self, pcode: str) -> Place | None:
        """Return the place with this pcode, or None."""
        return self._all.get(pcode)

    def deepest_level(self) -> str:
        """Return the pcode of the place with the longest name (the longest "Not sure" line)."""
        return max(self._top, key=lambda place: len(place.name)).pcode


def check_flows(
    directory: str | Path | None, locales_dir: str | Path, languages: Iterable[str] | None = None
) -> list[Problem]:
    """Report every problem of the flows in directory and their translations, in order."""
    flows, problems = collect_flows(directory)
    problems += structure_problems(flows, problems)
    configured = load_languages(locales_dir)
    codes = list(languages) if languages is not None else list(configured)
    problems += translation_problems(flows, locales_dir, codes)
    if MAIN_FLOW not in flows:
        where = str(Path(directory) if directory is not None else "flows")
        problems.append(Problem(where, None, "no-main", f"no {MAIN_FLOW!r} flow"))
    elif codes:
        engine = build_engine(flows, locales_dir, codes, configured)
        problems += screen_problems(engine)
        problems += label_problems(engine)
    return list(dict.fromkeys(problems))


def build_engine(
    flows: dict[str, Flow], locales_dir: str | Path, codes: list[str],
    configured: dict[str, Language],
) -> Engine:
    """Build the engine the gateway would build, over sample places."""
    plurals = {code: lang.plural for code, lang in configured.items() if lang.plural}
    return Engine(
        flows, Catalogs(locales_dir, codes, plurals), SamplePlaces(), codes, codes[0],
        gsm_fold_languages=[code for code, lang in configured.items() if lang.gsm7_fold],
        names={code: lang.name for code, lang in configured.items()},
    )


# Structure ---------------------------------------------------------------------------------


def _targets(flows: dict[str, Flow], flow: Flow, step: Step) -> list[Node]:
    """Return the steps one step can lead to, as (flow, step)."""
    found: list[Node] = []
    if (step.type != "menu" or step.channels) and step.next:
        found.append((flow.name, step.next))
    for option in step.options:
        if option.flow and option.flow in flows:
            found.append((option.flow, flows[option.flow].start))
        elif option.next or step.next:
            found.append((flow.name, option.next or step.next or ""))
    return [(f, s) for f, s in found if f in flows and s in flows[f].steps]


def _reach(flows: dict[str, Flow], start: Node, within: str | None = None) -> set[Node]:
    seen, todo = {start}, [start]
    while todo:
        name, step = todo.pop()
        for target in _targets(flows, flows[name], flows[name].steps[step]):
            if target not in seen and (within is None or target[0] == within):
                seen.add(target)
                todo.append(target)
    return seen


def structure_problems(flows: dict[str, Flow], known: Iterable[Problem] = ()) -> list[Problem]:
    """Report unreachable steps and flows, and steps from which no way reaches an end."""
    problems: list[Problem] = []
    for flow in flows.values():
        reached = _reach(flows, (flow.name, flow.start), within=flow.name)
        problems += [
            Problem(flow.path, name, "unreachable", f"step cannot be reached from {flow.start!r}")
            for name in flow.steps
            if (flow.name, name) not in reached
        ]
    if MAIN_FLOW in flows:
        reached_flows = {f for f, _ in _reach(flows, (MAIN_FLOW, flows[MAIN_FLOW].start))}
        problems += [
            Problem(
                flow.path, None, "unreachable",
                f"flow cannot be reached from {MAIN_FLOW!r}: no option has flow: {flow.name}",
            )
            for flow in flows.values()
            if flow.name not in reached_flows
        ]
    nodes = [(flow.name, name) for flow in flows.values() for name in flow.steps]
    good = {node for node in nodes if flows[node[0]].steps[node[1]].type == "end"}
    grew = True
    while grew:
        grew = False
        for node in nodes:
            step = flows[node[0]].steps[node[1]]
            if node not in good and any(t in good for t in _targets(flows, flows[node[0]], step)):
                good.add(node)
                grew = True
    reported = {(p.file, p.step) for p in known if p.kind == "dead-end"}
    for flow_name, name in nodes:
        path = flows[flow_name].path
        if (flow_name, name) not in good and (path, name) not in reported:
            problems.append(
                Problem(path, name, "dead-end", "dead end: no way on from this step reaches an end")
            )
    return problems


# Translations ------------------------------------------------------------------------------


def _msgids(flows: dict[str, Flow]) -> Iterator[tuple[str, str | None, str]]:
    """Yield (file, step, msgid) for every text a caller reads."""
    for flow in flows.values():
        for step in flow.steps.values():
            if step.text and step.type != "language":
                yield flow.path, step.name, step.text
            for option in step.options:
                yield flow.path, step.name, option.label
    for name, value in vars(messages).items():
        if name.isupper() and isinstance(value, str):
            yield messages.__file__, None, value


def translation_problems(
    flows: dict[str, Flow], locales_dir: str | Path, languages: Iterable[str]
) -> list[Problem]:
    """Report msgids of the flows and the engine that a language lacks or garbles."""
    problems: list[Problem] = []
    wanted = list(dict.fromkeys(_msgids(flows)))
    for lang in languages:
        catalog, problem = load_catalog(locales_dir, lang)
        if problem is not None or catalog is None:
            problems += [problem] if problem else []
            continue
        for path, step, msgid in wanted:
            message = catalog.get(msgid)
            if message is None and lang == SOURCE_LANGUAGE:
                continue
            found = entry_problem(msgid, message, lang)
            if found is not None:
                problems.append(Problem(path, step, found[0], found[1], lang))
    return problems


def label_problems(engine: Engine) -> list[Problem]:
    """Report options of one menu that read the same in a language (after translation)."""
    problems: list[Problem] = []
    for flow in engine.flows.values():
        for step in flow.steps.values():
            for lang in engine.languages:
                seen: dict[str, int] = {}
                for index, option in enumerate(step.options):
                    label = engine.translate(lang, option.label)
                    first = seen.setdefault(fold_words(label), index)
                    if first != index and step.options[first].label != option.label:
                        problems.append(Problem(
                            flow.path, step.name, "duplicate-label",
                            f"options {first + 1} and {index + 1} read the same: {label!r}", lang,
                        ))
    return problems


# Screens -----------------------------------------------------------------------------------


def measure(text: str) -> str:
    """Describe the size of a whole USSD answer against its limit, e.g. 93/80 UTF-16 units."""
    unit = "GSM-7 septets" if is_gsm7(text) else "UTF-16 units"
    return f"{ussd_length(text)}/{ussd_limit(text)} {unit}"


def menu_problems(menu: Menu, header: str, hint: str) -> list[str]:
    """Describe what a caller would lose on a menu's screens: cut text, screens too long."""
    found = []
    if menu.header != header:
        found.append(f"{TOO_LONG}: the question is cut to {menu.header!r}")
    if header and menu.hint != hint:
        found.append(f"{TOO_LONG}: the hint is cut to {menu.hint!r}")
    for page in range(len(menu.pages)):
        for with_hint in (False, True):
            text = CON + menu.render(page, hint=with_hint)
            if not fits_ussd(text):
                found.append(f"{TOO_LONG}: {measure(text)} on page {page + 1}")
                break
        lines = menu.render(page).split("\n")
        for index in menu.pages[page]:
            if f"{menu.number(index)} {menu.labels[index]}" not in lines:
                found.append(
                    f"{TOO_LONG}: option {menu.number(index)} is cut to fit on page {page + 1}"
                )
    return found


def _step_screens(engine: Engine, flow: Flow, step: Step, lang: str) -> list[str]:
    if step.type == "end":
        if not step.text:
            return []
        params = {name: SAMPLE_VALUE for name in placeholders(step.text)}
        text = END + engine.translate(lang, step.text, **params)
        return [] if fits_ussd(text) else [f"{TOO_LONG}: {measure(text)} (the end would be cut)"]
    levels: list[str | None] = [None]
    if step.type == "location":
        assert isinstance(engine.places, SamplePlaces)
        levels.append(engine.places.deepest_level())
    header = engine.translate(lang, step.text) if step.text else ""
    hint = engine.translate(lang, messages.HINT)
    found: list[str] = []
    for level in levels:
        menu = engine.menu_at(flow.name, step.name, lang, level=level)
        found += menu_problems(menu, header, hint)
    return found


def screen_problems(engine: Engine) -> list[Problem]:
    """Report screens that would not fit, or lose text, in each language and its encoding."""
    problems: list[Problem] = []
    for flow in engine.flows.values():
        for step in flow.steps.values():
            # SMS-only steps too: the engine shortens an SMS question as it does a screen.
            for lang in engine.languages:
                problems += [
                    Problem(flow.path, step.name, "screen-too-long", text, lang)
                    for text in _step_screens(engine, flow, step, lang)
                ]
    for lang in engine.languages:
        text = END + engine.translate(lang, messages.FAILURE)
        if not fits_ussd(text):
            problems.append(Problem(
                messages.__file__, None, "screen-too-long",
                f"{TOO_LONG}: {measure(text)} (the failure message would be cut)", lang,
            ))
    return problems
