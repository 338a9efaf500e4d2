"""The door of every webhook: address allow-list, secret token, body size, rate per address.

The token is required off the embedded default and trusted proxies are never wider than a /8
or an IPv6 /32 (gateway.config); an IPv6 source is rate limited by its /64
(privacy.limits.address_key), since one host may hold a whole /64.

`protect(bp)` puts the guard in front of every route of a blueprint, so a webhook added to it
later is guarded without a line of its own. A route marked `counts_address_itself` (the USSD
hop) counts the rate per address in its own Redis trip (privacy.limits.address_counter, taken
with the session's lock in one script) instead of one more here: it must call
`address_refused()` when that count is over, and `count_address()` on any path that answers
without that trip. A refused request is counted
(privacy.limits.refusal_counts) and logged by reason, path and source address: never its body,
never its query string (the token travels there).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request

from gateway.privacy.limits import Limit, address_counter, count_refusal, limit_address

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
View = TypeVar("View", bound=Callable[..., Response])

_COUNTS_ITSELF = "_gateway_counts_address_itself"


def check_token() -> Response | None:
    """Refuse the request unless it carries the configured webhook token."""
    expected = current_app.config.get("WEBHOOK_TOKEN")
    if not expected:
        return None
    given = request.args.get("token", "")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return Response("Forbidden\n", status=403, content_type="text/plain")


def _parse(value: str | None) -> Address | None:
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def client_address(
    remote: str | None, forwarded_for: str, trusted: list[Network]
) -> Address | None:
    """Return the real client address: X-Forwarded-For is believed only from trusted proxies.

    Walking the header from the right, each hop added by a trusted proxy is skipped; the first
    address not a trusted proxy is the client. None when an address cannot be read.
    """
    address = _parse(remote)
    if address is None or not _within(address, trusted):
        return address
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None or not _within(address, trusted):
            return address
    return address


def init_app(app: Flask) -> None:
    """Parse the allow-list and the trusted proxies once, for every request of the app."""
    app.extensions["webhook_guard"] = {
        name: [ipaddress.ip_network(value, strict=False) for value in app.config.get(name, [])]
        for name in ("ALLOWED_IPS", "TRUSTED_PROXIES")
    }


def _networks(app: Flask, name: str) -> list[Network]:
    return app.extensions["webhook_guard"][name]


def refuse(reason: str, status: int, address: Address | None) -> Response:
    """Count and log a refused request (without its body) and answer it."""
    count_refusal(reason)
    log.warning("webhook refused (%s, %d): %s from %s", reason, status, request.path,
                address or "unknown address")
    return Response(f"{_TEXTS[status]}\n", status=status, content_type="text/plain")


_TEXTS = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 413: "Request too large",
    429: "Too many requests",
}


def guard(authenticate: Callable[[], bool] | None = None) -> Response | None:
    """Refuse a webhook request from outside the allow-list, without the token, too big or too
    frequent; let every other through.

    authenticate: a check of the whole body (a provider's signature) in place of the token;
    it runs once the body is known to be within the size limit.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    address = client_address(
        request.remote_addr,
        request.headers.get("X-Forwarded-For", ""),
        _networks(app, "TRUSTED_PROXIES"),
    )
    allowed = _networks(app, "ALLOWED_IPS")
    if allowed and (address is None or not _within(address, allowed)):
        return refuse("address", 403, address)
    if authenticate is None and check_token() is not None:
        return refuse("token", 403, address)
    limit = int(app.config.get("MAX_BODY_BYTES") or 0)
    if limit:
        if request.content_length is not None and request.content_length > limit:
            return refuse("too_large", 413, address)
        request.max_content_length = limit + 1
        request.max_form_memory_size = limit
        # A chunked body has no length up front, and Werkzeug cuts it at the maximum without
        # a word: read it (at most one byte past the limit) and refuse it whole.
        if request.content_length is None and len(request.get_data(cache=True)) > limit:
            return refuse("too_large", 413, address)
    if authenticate is not None and not authenticate():
        return refuse("signature", 401, address)
    # No provider callback carries a NUL character; PostgreSQL text cannot hold one either.
    if any("\x00" in key + value for values in (request.args, request.form)
           for key, value in values.items(multi=True)):
        return refuse("nul_byte", 400, address)
    # The provider's own addresses carry every caller's hops: limiting them would slow every
    # caller at once during a surge. Callers are limited one by one (by pseudonym) instead.
    if not allowed:
        who = str(address or "unknown")
        view = app.view_functions.get(request.endpoint or "")
        if getattr(view, _COUNTS_ITSELF, False):
            # Counted by the route in its own trip to Redis (see the module's docstring).
            g.webhook_address = (address, address_counter(who, app))
        elif not limit_address(who, app):
            return refuse("address_rate", 429, address)
    return None


def counts_address_itself(view: View) -> View:
    """Mark a guarded route that counts the rate per address in its own Redis trip."""
    setattr(view, _COUNTS_ITSELF, True)
    return view


def deferred_address_limit() -> Limit | None:
    """Return the rate counter of this request's address that the route is to count, if any."""
    found = g.get("webhook_address")
    return found[1] if found is not None else None


def address_refused() -> Response:
    """Refuse this request as over the rate per address (counted by the route)."""
    found = g.get("webhook_address")
    return refuse("address_rate", 429, found[0] if found is not None else None)


def count_address() -> Response | None:
    """Count this request against the rate per address, when the route did not; the refusal
    once it is over, else None."""
    found = g.pop("webhook_address", None)
    if found is None or found[1] is None:
        return None
    if limit_address(str(found[0] or "unknown")):
        return None
    return refuse("address_rate", 429, found[0])


def protect(bp: Blueprint, authenticate: Callable[[], bool] | None = None) -> None:
    """Guard every route of a webhook blueprint, present and future (by token, or by the
    given check of a signed body)."""
    if authenticate is None:
        bp.before_request(guard)
        return

    def signed_guard() -> Response | None:
        return guard(authenticate)

    bp.before_request(signed_guard)
