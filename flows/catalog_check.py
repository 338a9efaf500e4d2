"""Keep the translation template and catalogs current: extract, update, compile and check."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import PoFileError, read_po

from flows.i18n import load_languages
from flows.model import Problem

SOURCE_LANGUAGE = "en"
LOCALES = Path("locales")


@dataclass(frozen=True)
class Domain:
    """A set of messages with its own template and catalogs (gettext's domain).

    `messages`: what callers and focal points read (every language of languages.toml).
    Another domain names the languages it is translated into (the desk: French).
    """

    name: str
    mapping: str  # the Babel extraction map, at the repository root
    languages: tuple[str, ...] | None = None  # None: every language of languages.toml

    @property
    def template(self) -> Path:
        return LOCALES / f"{self.name}.pot"


MESSAGES = Domain("messages", "babel.cfg")
TEMPLATE = MESSAGES.template
# The options of locales/README.md: the template must come out the same whoever extracts it.
EXTRACT_OPTIONS = (
    "--add-comments=TRANSLATORS:", "--sort-by-file", "-w", "100",
    "--project=community-alert-gateway", "--msgid-bugs-address=",
)
UPDATE_OPTIONS = ("-w", "100", "--no-fuzzy-matching", "--ignore-obsolete")
PLACEHOLDER = re.compile(r"%\((\w+)\)")
_SHORT = 50

MessageId = str | tuple[str, ...]


def pybabel(root: str | Path, *args: str) -> None:
    """Run one pybabel command from root, quietly (errors still raise or exit)."""
    with contextlib.chdir(root):
        CommandLineInterface().run(["pybabel", "-q", *args])


def extract(root: str | Path, output: str | Path, domain: Domain = MESSAGES) -> None:
    """Extract every message of a domain's files under root into the template output."""
    pybabel(root, "extract", "-F", domain.mapping, *EXTRACT_OPTIONS,
            "-o", str(Path(output).resolve()), ".")


def update(root: str | Path, domains: Iterable[Domain] = (MESSAGES,)) -> None:
    """Regenerate each domain's template and bring every catalog of it in line with it.

    A language a domain names that has no catalog of it yet gets one (pybabel init): its
    messages are then missing until translated, and `check` says so.
    """
    for domain in domains:
        extract(root, Path(root) / domain.template, domain)
        for lang in domain.languages or ():
            if not catalog_path(Path(root) / LOCALES, lang, domain).is_file():
                pybabel(root, "init", "-i", str(domain.template), "-d", str(LOCALES),
                        "-D", domain.name, "-l", lang, "-w", "100")
        pybabel(root, "update", "-i", str(domain.template), "-d", str(LOCALES),
                "-D", domain.name, *UPDATE_OPTIONS)


def compile_catalogs(root: str | Path, domains: Iterable[Domain] = (MESSAGES,)) -> None:
    """Write the .mo files next to the catalogs (optional: the gateway compiles in memory)."""
    # --use-fuzzy: drafts are served (see flows.i18n), and a fuzzy header must not skip a file.
    for domain in domains:
        pybabel(root, "compile", "--use-fuzzy", "-d", str(LOCALES), "-D", domain.name)


def read_catalog(path: str | Path, lang: str | None = None) -> Catalog:
    """Read a .po/.pot file, without locale data for languages CLDR does not know."""
    with Path(path).open("rb") as fh:
        try:
            return read_po(fh, locale=lang)
        except (UnknownLocaleError, ValueError):
            fh.seek(0)
            return read_po(fh)


def placeholders(text: str) -> set[str]:
    """Return the names of the %(name)s placeholders of text."""
    return set(PLACEHOLDER.findall(text))


def short(msgid: MessageId) -> str:
    """Quote a msgid for a report line, cut when long."""
    text = msgid[0] if isinstance(msgid, tuple) else msgid
    text = " ".join(text.split())
    return repr(text if len(text) <= _SHORT else text[: _SHORT - 3] + "...")


def entry_problem(msgid: MessageId, message: Message | None, lang: str) -> tuple[str, str] | None:
    """Return (kind, text) of what is wrong with msgid's entry in lang's catalog, or None.

    English is the source: an empty msgstr means the msgid as written. A fuzzy entry is a draft
    (served, counted by review_states): not a problem, but checked like any other.
    """
    if message is None:
        return "missing-translation", f"not in the catalog: {short(msgid)}"
    strings = _strings(message)
    if lang != SOURCE_LANGUAGE:
        if not all(strings):
            return "missing-translation", f"missing translation: {short(msgid)}"
    sources = msgid if isinstance(msgid, tuple) else (msgid,)
    wanted = set().union(*(placeholders(text) for text in sources))
    plural = len(sources) > 1
    for string in strings:
        found = placeholders(string) if string else wanted
        if plural:
            found, wanted = found - {"n"}, wanted - {"n"}
        if found != wanted:
            return "placeholder-mismatch", (
                f"placeholders differ: {_names(wanted)} in the source, {_names(found)} "
                f"in the translation of {short(msgid)}"
            )
    return None


def _strings(message: Message) -> tuple[str, ...]:
    string = message.string
    return tuple(string) if isinstance(string, tuple | list) else (string,)


def _names(found: Iterable[str]) -> str:
    return " ".join(f"%({name})s" for name in sorted(found)) or "none"


def _ids(catalog: Catalog) -> dict[tuple[MessageId, str | None], Message]:
    return {(message.id, message.context): message for message in catalog if message.id}


def check_template(root: str | Path, domain: Domain = MESSAGES) -> list[Problem]:
    """Report msgids added to or removed from the code since the domain's template was made."""
    root = Path(root)
    template = root / domain.template
    if not template.is_file():
        return [Problem(str(template), None, "stale-template", "no template (gateway i18n update)")]
    with tempfile.TemporaryDirectory() as tmp:
        fresh_path = Path(tmp) / domain.template.name
        extract(root, fresh_path, domain)
        fresh = _ids(read_catalog(fresh_path))
    current = _ids(read_catalog(template))
    problems = [
        Problem(
            str(template), None, "stale-template",
            f"template is stale: {short(key[0])} is in the code, not in the template "
            "(run gateway i18n update)",
        )
        for key in sorted(set(fresh) - set(current), key=str)
    ]
    problems += [
        Problem(
            str(template), None, "stale-template",
            f"template is stale: {short(key[0])} is in the template, no longer in the code "
            "(run gateway i18n update)",
        )
        for key in sorted(set(current) - set(fresh), key=str)
    ]
    return problems


def catalog_path(locales_dir: str | Path, lang: str, domain: Domain = MESSAGES) -> Path:
    """Return where lang's catalog of the domain lives."""
    return Path(locales_dir) / lang / "LC_MESSAGES" / f"{domain.name}.po"


def load_catalog(locales_dir: str | Path, lang: str,
                 domain: Domain = MESSAGES) -> tuple[Catalog | None, Problem | None]:
    """Read lang's catalog, or say why it cannot be used."""
    path = catalog_path(locales_dir, lang, domain)
    if not path.is_file():
        if lang == SOURCE_LANGUAGE:
            return Catalog(locale=None), None
        return None, Problem(
            str(path), None, "missing-translation", "no catalog (run pybabel init)", lang
        )
    try:
        return read_catalog(path, lang), None
    except (OSError, PoFileError) as exc:
        return None, Problem(str(path), None, "unreadable", f"cannot read catalog: {exc}", lang)


def _codes(locales_dir: Path, languages: Iterable[str] | None, domain: Domain) -> list[str]:
    """Return the languages to check: those asked for (of the domain's), or all of the domain."""
    known = list(domain.languages) if domain.languages is not None else list(
        load_languages(locales_dir))
    return [code for code in languages if code in known] if languages is not None else known


def check_catalogs(
    locales_dir: str | Path, languages: Iterable[str] | None = None, domain: Domain = MESSAGES
) -> list[Problem]:
    """Report every template msgid that a language's catalog lacks, leaves empty or garbles."""
    locales_dir = Path(locales_dir)
    codes = _codes(locales_dir, languages, domain)
    template_path = locales_dir / f"{domain.name}.pot"
    if not template_path.is_file():
        return [Problem(str(template_path), None, "stale-template", "no template")]
    template = _ids(read_catalog(template_path))
    problems: list[Problem] = []
    for lang in codes:
        catalog, problem = load_catalog(locales_dir, lang, domain)
        if problem is not None or catalog is None:
            problems += [problem] if problem else []
            continue
        path = str(catalog_path(locales_dir, lang, domain))
        entries = _ids(catalog)
        for key in template:
            found = entry_problem(key[0], entries.get(key), lang)
            if found is not None:
                problems.append(Problem(path, None, found[0], found[1], lang))
    return problems


@dataclass(frozen=True)
class ReviewState:
    """How much of one language's catalog a native speaker has checked."""

    code: str
    name: str
    reviewed: int
    drafts: int
    missing: int


def review_state(
    locales_dir: str | Path, lang: str, name: str | None = None, domain: Domain = MESSAGES
) -> ReviewState:
    """Count the template's messages that lang has reviewed, as drafts (fuzzy), or lacks."""
    locales_dir = Path(locales_dir)
    template = _ids(read_catalog(locales_dir / f"{domain.name}.pot"))
    catalog, _ = load_catalog(locales_dir, lang, domain)
    entries = _ids(catalog) if catalog is not None else {}
    reviewed = drafts = missing = 0
    for key in template:
        message = entries.get(key)
        translated = message is not None and (lang == SOURCE_LANGUAGE or all(_strings(message)))
        if message is None or not translated:
            missing += 1
        elif message.fuzzy:
            drafts += 1
        else:
            reviewed += 1
    return ReviewState(lang, name or lang, reviewed, drafts, missing)


def review_states(
    locales_dir: str | Path, languages: Iterable[str] | None = None, domain: Domain = MESSAGES
) -> list[ReviewState]:
    """Count reviewed messages and drafts of each language, in the order of languages.toml."""
    configured = load_languages(locales_dir)
    codes = _codes(Path(locales_dir), languages, domain)
    return [
        review_state(locales_dir, code, configured[code].name if code in configured else None,
                     domain)
        for code in codes
    ]


def review_line(state: ReviewState) -> str:
    """Describe one language's review state on one line of `gateway i18n check`."""
    line = (
        f"{state.code} ({state.name}): {state.reviewed} reviewed, {state.drafts} draft(s) "
        "not yet checked by a native speaker"
    )
    return line + (f", {state.missing} missing" if state.missing else "")


def review_table(states: Iterable[ReviewState]) -> str:
    """Return the Markdown table of README.md's language list (`gateway i18n status`)."""
    lines = [
        "| Language | Code | Reviewed | Drafts (fuzzy) | Missing |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s.name} | `{s.code}` | {s.reviewed} | {s.drafts} | {s.missing} |" for s in states
    ]
    return "\n".join(lines) + "\n"
