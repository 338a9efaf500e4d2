"""Lay out menus in pages that fit one USSD screen, in the screen's real encoding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from flows.gsm import (
    USSD_GSM7_LIMIT,
    USSD_UCS2_LIMIT,
    fits_ussd,
    gsm7_septets,
    is_gsm7,
    utf16_units,
)

CON, END = "CON ", "END "
MORE_NUMBER = 98
BACK_NUMBER = 0
RESERVED = (BACK_NUMBER, MORE_NUMBER)
ELLIPSIS = ".."
# Room kept for at least one option when a header or a pinned option must be shortened.
_ROOM = 12


@lru_cache(maxsize=4096)
def _measure(line: str) -> tuple[bool, int, int]:
    """Return (is GSM-7, septets, UTF-16 units) of one line, cached: menus re-measure often."""
    gsm = is_gsm7(line)
    return gsm, gsm7_septets(line) if gsm else 0, utf16_units(line)


def lines_fit(lines: Sequence[str]) -> bool:
    """Tell whether CON followed by lines joined by newlines fits one USSD screen."""
    measures = [_measure(line) for line in lines]
    joints = len(CON) + max(len(lines) - 1, 0)  # prefix and newlines are GSM-7, one unit each
    if all(gsm for gsm, _, _ in measures):
        return joints + sum(septets for _, septets, _ in measures) <= USSD_GSM7_LIMIT
    return joints + sum(units for _, _, units in measures) <= USSD_UCS2_LIMIT


def option_number(index: int) -> int:
    """Return the number shown for the option at index: 1, 2, ... skipping 98 (More)."""
    number = index + 1
    return number + 1 if number >= MORE_NUMBER else number


def truncate_to_fit(text: str, fits: Callable[[str], bool]) -> str:
    """Shorten text from the end, marking the cut, until fits(text) is true (last resort)."""
    if fits(text):
        return text
    body = text
    while body:
        body = body[:-1].rstrip()
        if fits(body + ELLIPSIS):
            return body + ELLIPSIS
    return ""


def fit_end(text: str) -> str:
    """Return the body of an END screen, shortened only if it cannot fit otherwise."""
    return truncate_to_fit(text, lambda t: fits_ussd(END + t))


@dataclass
class Menu:
    """A question and its numbered options, paged with "98 More" and "0 Back"."""

    header: str
    labels: Sequence[str]
    more: str
    back: str
    can_back: bool
    hint: str
    pinned: Sequence[str] = ()
    # The number of each option (a flow's `number:`); default: 1, 2, 3 ... skipping 98.
    numbers: Sequence[int] = ()
    _lines: list[str] = field(default_factory=list, init=False, repr=False)
    _pinned_lines: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._lines = [f"{self.number(i)} {label}" for i, label in enumerate(self.labels)]
        base = len(self.labels)
        self._pinned_lines = [
            f"{self.number(base + j)} {label}" for j, label in enumerate(self.pinned)
        ]
        self._shorten_fixed_parts()

    # Layout --------------------------------------------------------------------------------

    @property
    def _heads(self) -> tuple[str, ...]:
        """The first lines a page may have: the question, or the hint in its place.

        A screen without a question (the language choice) is laid out without the hint, which
        it shows only where it fits: the choice must not need paging for a hint's sake.
        """
        return (self.header, self.hint) if self.header else ("",)

    def _fits(self, lines: Sequence[str]) -> bool:
        """Tell whether lines fit under the question and under the hint alone."""
        return all(lines_fit(([head] if head else []) + list(lines)) for head in self._heads)

    def _nav(self, page: int, more: bool) -> list[str]:
        nav = [f"{MORE_NUMBER} {self.more}"] if more else []
        if self.can_back or page > 0:
            nav.append(f"{BACK_NUMBER} {self.back}")
        return nav

    def _shorten_fixed_parts(self) -> None:
        """Shorten the question or pinned options when even one option could not fit."""
        gsm = all(_measure(label)[0] for label in list(self.labels) + list(self.pinned))
        dummy = f"97 {'x' if gsm else 'ɛ'}" + "x" * _ROOM
        nav = self._nav(1, True)
        while not self._fits(self._pinned_lines + [dummy] + nav):
            parts = [self.header, self.hint, *self._pinned_lines]
            longest = max(range(len(parts)), key=lambda k: len(parts[k]))
            if len(parts[longest]) <= len(ELLIPSIS) + 1:
                return
            shorter = parts[longest][: -len(ELLIPSIS) - 1].rstrip() + ELLIPSIS
            if longest == 0:
                self.header = shorter
            elif longest == 1:
                self.hint = shorter
            else:
                self._pinned_lines[longest - 2] = shorter

    def _totals(self, lines: Sequence[str]) -> tuple[int, int, int, int]:
        """Sum (non-GSM lines, septets, UTF-16 units, lines) over lines."""
        measures = [_measure(line) for line in lines]
        return (
            sum(not gsm for gsm, _, _ in measures),
            sum(septets for _, septets, _ in measures),
            sum(units for _, _, units in measures),
            len(measures),
        )

    def _range_fits(
        self, prefix: list[tuple[int, int, int]], a: int, b: int, fixed: tuple[int, ...]
    ) -> bool:
        """Tell whether options a..b-1 fit with the fixed lines, under either header."""
        end, begin = prefix[b], prefix[a]
        for head in self._head_totals:
            nongsm = fixed[0] + head[0] + end[0] - begin[0]
            joints = len(CON) + max(fixed[3] + head[3] + b - a - 1, 0)
            if nongsm:
                length = fixed[2] + head[2] + end[2] - begin[2]
                limit = USSD_UCS2_LIMIT
            else:
                length = fixed[1] + head[1] + end[1] - begin[1]
                limit = USSD_GSM7_LIMIT
            if joints + length > limit:
                return False
        return True

    def _prefix_sums(self) -> list[tuple[int, int, int]]:
        sums = [(0, 0, 0)]
        for line in self._lines:
            gsm, septets, units = _measure(line)
            last = sums[-1]
            sums.append((last[0] + (not gsm), last[1] + septets, last[2] + units))
        return sums

    @cached_property
    def _head_totals(self) -> list[tuple[int, int, int, int]]:
        return [self._totals([head] if head else []) for head in self._heads]

    @cached_property
    def pages(self) -> list[range]:
        """Split the options into pages of whole options, each fitting with its nav lines."""
        pages: list[range] = []
        start, total = 0, len(self._lines)
        prefix = self._prefix_sums()
        while True:
            page = len(pages)
            last = self._totals(self._pinned_lines + self._nav(page, False))
            if start >= total or self._range_fits(prefix, start, total, last):
                # Past the last option (nothing fits with the nav lines): the pages are made.
                if start < total or not pages:
                    pages.append(range(start, total))
                return pages
            tail_lines = self._pinned_lines + self._nav(page, True)
            tail = self._totals(tail_lines)
            count = 0
            while start + count < total and self._range_fits(
                prefix, start, start + count + 1, tail
            ):
                count += 1
            if count == 0:
                # One option too long for any screen: shorten it rather than cut the screen.
                self._lines[start] = truncate_to_fit(
                    self._lines[start], lambda line, tail=tail_lines: self._fits([line] + tail)
                )
                prefix = self._prefix_sums()
                count = 1
            pages.append(range(start, start + count))
            start += count

    # Rendering and input -------------------------------------------------------------------

    def number(self, index: int) -> int:
        """Return the number shown for the line at index (options, then pinned ones)."""
        if index < len(self.labels) and index < len(self.numbers):
            return self.numbers[index]
        return option_number(index)

    def clamp(self, page: int) -> int:
        """Return page, kept within the pages that exist."""
        return max(0, min(page, len(self.pages) - 1))

    def render(self, page: int, hint: bool = False) -> str:
        """Return the body of the screen for page, with the hint as first line if asked."""
        page = self.clamp(page)
        indexes = self.pages[page]
        lines = [self._lines[i] for i in indexes] + self._pinned_lines
        lines += self._nav(page, page < len(self.pages) - 1)
        heads = [self.header] if self.header else []
        if hint and self.header:
            both = [self.hint, self.header]
            heads = both if fits_ussd(CON + "\n".join(both + lines)) else [self.hint]
        elif hint and fits_ussd(CON + "\n".join([self.hint, *lines])):
            heads = [self.hint]
        return "\n".join(heads + lines)

    def choose(self, page: int, number: int) -> int | None:
        """Return the index (options, then pinned) that number picks on page, or None."""
        page = self.clamp(page)
        visible = list(self.pages[page]) + [
            len(self.labels) + j for j in range(len(self.pinned))
        ]
        for index in visible:
            if self.number(index) == number:
                return index
        return None

    def has_more(self, page: int) -> bool:
        """Tell whether page has a "98 More" line."""
        return self.clamp(page) < len(self.pages) - 1

    def has_back(self, page: int) -> bool:
        """Tell whether page has a "0 Back" line."""
        return self.can_back or self.clamp(page) > 0
