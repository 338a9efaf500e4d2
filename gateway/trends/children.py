"""Girls, boys and children of unknown sex, as tallied from an alert's answers."""

from __future__ import annotations

from typing import NamedTuple

# A count as the caller chose it, by its lower bound ("unknown" and None: not known).
COUNTED = {"0": 0, "1": 1, "2-3": 2, "4-9": 4, "10+": 10}
# Alerts made before girls and boys were counted: how many children, by lower bound.
OLD_CHILDREN = {"1": 1, "2-3": 2, "4+": 4}


class Children(NamedTuple):
    """How many girls, boys and children whose sex is not known an alert is about."""

    girls: int
    boys: int
    unknown: int


def tally(girls: str | None, boys: str | None, children: str | None = None,
          sex: str | None = None) -> Children:
    """Tally the children of one alert (the rule is in gateway/trends/__init__.py)."""
    if girls is None and boys is None:
        return _old_answers(children, sex)
    known_girls, known_boys = COUNTED.get(girls or ""), COUNTED.get(boys or "")
    counted = (known_girls or 0) + (known_boys or 0)
    not_known = known_girls is None or known_boys is None
    # Neither count says there was a child, and one is not known: at least one child, sex unknown.
    unknown = 1 if not_known and counted == 0 else 0
    return Children(known_girls or 0, known_boys or 0, unknown)


def _old_answers(children: str | None, sex: str | None) -> Children:
    """Tally from the answers asked before girls and boys were counted."""
    count = OLD_CHILDREN.get(children or "", 1)
    if sex == "girls":
        return Children(count, 0, 0)
    if sex == "boys":
        return Children(0, count, 0)
    if sex == "both":
        return Children(1, 1, max(count - 2, 0))
    return Children(0, 0, count)
