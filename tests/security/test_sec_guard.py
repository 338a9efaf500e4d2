"""The door of every webhook: token, address allow-list, body size, rate limits."""

from __future__ import annotations

import http.client
import ipaddress
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from werkzeug.serving import make_server

from gateway import create_app
from gateway.errors import ConfigError
from gateway.privacy.limits import refusal_counts
from gateway.storage import db
from gateway.web.guard import client_address
from tests.caller import Caller
from tests.conftest import TEST_SECRET, base_config
from tests.security.webhooks import webhook_urls

TOKEN = "webhook-token-7c1f0e9d8b6a5f4e3d2c1b0a"
AT_ADDRESS = "196.201.214.10"
FORM = {
    "sessionId": "ATUid_guard", "phoneNumber": "+243970001234", "text": "",
    "serviceCode": "*384*1234#", "id": "ATXid_1", "status": "Success",
}


def passed(status: int) -> bool:
    """Through the door: the webhook itself answered (a form it dislikes is its own 400)."""
    return status not in (403, 413, 429) and status < 500


def nets(*ranges: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value) for value in ranges]


def test_the_webhooks_are_found_in_the_url_map(make_app: Callable[..., Flask]) -> None:
    urls = webhook_urls(make_app())
    assert "/africastalking/ussd" in urls and "/africastalking/delivery-reports" in urls


def test_every_webhook_refuses_a_missing_or_wrong_token_and_counts_it(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(WEBHOOK_TOKEN=TOKEN)
    client = app.test_client()
    body_marker = "+243970001234"
    for url in webhook_urls(app):
        assert client.post(url, data=FORM).status_code == 403
        assert client.post(f"{url}?token=wrong{TOKEN}", data=FORM).status_code == 403
        assert passed(client.post(f"{url}?token={TOKEN}", data=FORM).status_code)
    refused = 2 * len(webhook_urls(app))
    assert refusal_counts(app)["token"] == refused
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.web.guard"]
    assert len(lines) == refused and all("token" in line for line in lines)
    # Logged without the body, and without the query string (the token travels there).
    assert body_marker not in caplog.text and TOKEN not in caplog.text


def test_the_allow_list_refuses_other_addresses(make_app: Callable[..., Flask]) -> None:
    app = make_app(ALLOWED_IPS=["196.201.214.0/24"])
    client = app.test_client()
    for url in webhook_urls(app):
        outside = client.post(url, data=FORM, environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert outside.status_code == 403
        inside = client.post(url, data=FORM, environ_base={"REMOTE_ADDR": AT_ADDRESS})
        assert passed(inside.status_code)
    assert refusal_counts(app)["address"] == len(webhook_urls(app))


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(ALLOWED_IPS=["196.201.214.0/24"], TRUSTED_PROXIES=["10.0.0.0/8"])
    client = app.test_client()
    spoofed = client.post(
        "/africastalking/ussd", data=FORM,
        headers={"X-Forwarded-For": AT_ADDRESS}, environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert spoofed.status_code == 403
    proxied = client.post(
        "/africastalking/ussd", data=FORM,
        headers={"X-Forwarded-For": f"203.0.113.9, {AT_ADDRESS}"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert proxied.status_code == 200
    # The leftmost entry is the attacker's to write: only the hops proxies added count.
    forged = client.post(
        "/africastalking/ussd", data=FORM,
        headers={"X-Forwarded-For": f"{AT_ADDRESS}, 203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert forged.status_code == 403


@pytest.mark.parametrize("too_wide", ["0.0.0.0/0", "10.0.0.0/7", "::/0", "2001:db8::/31"])
def test_a_proxy_range_wide_enough_to_spoof_x_forwarded_for_cannot_be_configured(
    too_wide: str, make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trusting 0.0.0.0/0 let anyone write the provider's address in X-Forwarded-For."""
    app = make_app(ALLOWED_IPS=["196.201.214.0/24"], TRUSTED_PROXIES=["0.0.0.0/0"])
    spoofed = app.test_client().post(
        "/africastalking/ussd", data=FORM,
        headers={"X-Forwarded-For": AT_ADDRESS}, environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert spoofed.status_code == 200  # the attack, had the range been accepted
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_ALLOWED_IPS", "196.201.214.0/24")
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", f"127.0.0.1, {too_wide}")
    with pytest.raises(ConfigError) as refused:
        create_app()
    message = str(refused.value)
    assert message.startswith("GATEWAY_TRUSTED_PROXIES must be ")
    assert f"(refused: {too_wide!r})" in message


def test_a_production_app_refuses_to_start_without_a_token_and_forged_posts_without_it(
    make_app: Callable[..., Flask], schema: str, data_dir: Path, redis_connection: Redis,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings from the environment, as gunicorn gets them: PostgreSQL (or another database)."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GATEWAY_WEBHOOK_TOKEN", raising=False)
    # The test settings, less the token: it comes from the environment or not at all.
    config = {k: v for k, v in base_config(schema, data_dir).items() if k != "WEBHOOK_TOKEN"}
    with pytest.raises(ConfigError, match="^GATEWAY_WEBHOOK_TOKEN is required"):
        create_app(config, redis=redis_connection)

    monkeypatch.setenv("GATEWAY_WEBHOOK_TOKEN", TOKEN)
    app = create_app(config, redis=redis_connection)
    try:
        client = app.test_client()
        sms = {"from": "+243970001234", "to": "1234", "text": "ALERT", "id": "ATXid_forged",
               "date": "2026-11-27 10:00:00"}
        assert client.post("/africastalking/ussd", data=FORM).status_code == 403
        assert client.post("/africastalking/sms", data=sms).status_code == 403
        hop = client.post(f"/africastalking/ussd?token={TOKEN}", data=FORM)
        assert hop.status_code == 200 and hop.get_data(as_text=True).startswith("CON ")
        assert refusal_counts(app)["token"] == 2
    finally:
        db.get_engine(app).dispose()


def test_client_address_walks_trusted_hops_only() -> None:
    trusted = nets("10.0.0.0/8", "192.168.0.0/16")
    assert str(client_address("10.0.0.1", "1.2.3.4, 192.168.1.1", trusted)) == "1.2.3.4"
    assert str(client_address("8.8.8.8", "1.2.3.4", trusted)) == "8.8.8.8"
    assert str(client_address("::ffff:1.2.3.4", "", [])) == "1.2.3.4"
    assert client_address("10.0.0.1", "not-an-address", trusted) is None
    assert client_address(None, "", trusted) is None
    assert str(client_address("10.0.0.1", "", trusted)) == "10.0.0.1"


def test_a_body_over_the_limit_is_refused_with_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_BODY_BYTES=2048)
    client = app.test_client()
    for url in webhook_urls(app):
        big = client.post(url, data={**FORM, "text": "1*" * 2000})
        assert big.status_code == 413
    assert refusal_counts(app)["too_large"] == len(webhook_urls(app))


def test_a_chunked_body_over_the_limit_is_refused_with_413(
    make_app: Callable[..., Flask],
) -> None:
    """Without a Content-Length, reading past the limit is refused too (over real HTTP)."""
    app = make_app(MAX_BODY_BYTES=2048)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for url in webhook_urls(app):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            chunks = iter([b"sessionId=x&phoneNumber=1&text=", *[b"1*" * 500] * 10])
            conn.request("POST", url, body=chunks, encode_chunked=True,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert conn.getresponse().status == 413
            conn.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_flooding_address_is_slowed_down_and_others_are_not(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(RATE_PER_ADDRESS=(5, 60))
    client = app.test_client()
    flood = [
        client.post("/africastalking/delivery-reports", data=FORM,
                    environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
        for _ in range(8)
    ]
    assert flood == [200] * 5 + [429] * 3
    other = client.post("/africastalking/delivery-reports", data=FORM,
                        environ_base={"REMOTE_ADDR": AT_ADDRESS})
    assert other.status_code == 200
    assert refusal_counts(app)["address_rate"] == 3


def test_an_ipv6_flooder_hopping_through_its_64_shares_one_limit(
    make_app: Callable[..., Flask],
) -> None:
    """One host holds a whole /64: counted by address, it would get 2^64 budgets."""
    app = make_app(RATE_PER_ADDRESS=(4, 60))
    client = app.test_client()

    def post(address: str) -> int:
        return client.post("/africastalking/delivery-reports", data=FORM,
                           environ_base={"REMOTE_ADDR": address}).status_code

    same_64 = ["2001:db8:1:2::a", "2001:db8:1:2:ffff:ffff:ffff:b"]
    flood = [post(same_64[i % 2]) for i in range(8)]
    assert flood == [200] * 4 + [429] * 4
    # Two addresses of different /64s are two clients: each has its own budget.
    assert [post("2001:db8:1:3::a") for _ in range(4)] == [200] * 4
    assert [post("2001:db8:1:4::a") for _ in range(4)] == [200] * 4
    assert post("2001:db8:1:3::b") == 429  # the second /64 spent its own, and only its own
    assert refusal_counts(app)["address_rate"] == 5


def test_a_flooding_caller_gets_a_proper_end_and_other_callers_go_on(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = make_app(RATE_PER_CALLER=(4, 60))
    client = app.test_client()
    flooder = "+243970009999"
    screens = [Caller(client, phone=flooder).dial() for _ in range(6)]
    assert all(screen.startswith("CON ") for screen in screens[:4])
    with app.app_context():
        from gateway.conversation import get_catalogs

        expected = get_catalogs().gettext(
            "fr", "Too many tries in a short time. Please dial again later."
        )
    assert screens[4] == "END " + expected
    assert screens[5] == screens[4]
    assert Caller(client, phone="+243970001111").dial().startswith("CON ")
    assert refusal_counts(app)["caller_ussd"] == 2
    assert "970009999" not in caplog.text


def test_the_try_later_screen_is_in_the_callers_language(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_PER_CALLER=(2, 60))
    caller = Caller(app.test_client(), phone="+243970007777")
    caller.dial()
    caller.choose("English")
    with app.app_context():
        from gateway.conversation import get_catalogs

        expected = get_catalogs().gettext(
            "en", "Too many tries in a short time. Please dial again later."
        )
    assert caller.press("1") == "END " + expected


def test_the_providers_own_addresses_are_not_rate_limited(
    make_app: Callable[..., Flask],
) -> None:
    """With an allow-list, the provider's address carries every caller: a surge passes it."""
    app = make_app(RATE_PER_ADDRESS=(5, 60), ALLOWED_IPS=[f"{AT_ADDRESS}/32"])
    client = app.test_client()
    statuses = {
        client.post("/africastalking/delivery-reports", data=FORM,
                    environ_base={"REMOTE_ADDR": AT_ADDRESS}).status_code
        for _ in range(20)
    }
    assert statuses == {200}
    outsider = client.post("/africastalking/delivery-reports", data=FORM,
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outsider.status_code == 403


@pytest.mark.parametrize("path", ["/africastalking/ussd", "/africastalking/delivery-reports",
                                  "/africastalking/sms", "/africastalking/ussd-events"])
def test_a_nul_character_is_refused_before_any_database(
    make_app: Callable[..., Flask], path: str,
) -> None:
    """Found by the fuzzer on PostgreSQL, whose text cannot hold NUL: a 400, never a 500."""
    client = make_app().test_client()
    form = {"id": "\x00", "sessionId": "s\x00", "phoneNumber": "+243970001234", "text": "1",
            "from": "+243970001234", "status": "Success"}
    response = client.post(path, data=form)
    assert response.status_code == 400
    assert client.post(path, data={"x\x00": "1"}).status_code == 400
