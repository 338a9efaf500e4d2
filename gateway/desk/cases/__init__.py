"""The cases on the desk: the list, a case's page, and the actions on it.

Every query starts from `scope` (what the user may see); a case outside it answers 404 like a
missing one. Every view of a case page and every action is written to the audit trail. The
actions go through gateway.cases.actions, the code the SMS commands use too, so acting here or
by SMS is one thing: the escalation ends, the reporter who asked hears once.

`common` holds the blueprint and the words of codes, `listing` the list (/cases), `page` a
case's page (/cases/<reference>), `acting` the actions (POST /cases/<reference>/<action>).
"""

from __future__ import annotations

from gateway.desk.cases import acting, listing, page
from gateway.desk.cases.common import bp

__all__ = ["acting", "bp", "listing", "page"]
