"""Whatever is posted to any webhook: a 4xx or a well-formed answer, never a 5xx, nothing half.

Every POST route of the webhook blueprints is fuzzed, found in the URL map, so a webhook added
later is fuzzed without a line here. GATEWAY_FUZZ_EXAMPLES sets the examples per webhook and
strategy (default 600: a few thousand in all, within seconds).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseEvent, InboundMessage, InboundStatus
from gateway.web import africastalking
from tests import deployment
from tests.caller import Caller
from tests.security.webhooks import webhook_urls
from tests.test_ussd import reference_in, walk_alert

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "600"))
TOKEN = "fuzz-token-5d3c2b1a0f9e8d7c6b5a4f3e"
FIELDS = [
    "sessionId", "serviceCode", "phoneNumber", "networkCode", "text", "id", "status",
    "failureReason", "retryCount", "from", "to", "date", "linkId", "input", "hopsCount",
    "durationInMillis", "lastAppResponse", "errorMessage", "cost",
]
HOSTILE = [
    "' OR 1=1 --", "'; DROP TABLE cases; --", "<script>alert(1)</script>", "${jndi:ldap://x}",
    "{{7*7}}", "%s%s%s%n", "../../etc/passwd", "\x00", "\r\nSet-Cookie: x=1", "\u202e\u200b",
    "*" * 500, "1" + "*1" * 900, "*#*#", "99*98*0*00", "ٱلسلام", "🙂" * 50, "\ud800".encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace"), "Success", "Failed", "",
]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _discover() -> list[str]:
    probe = Flask("probe")
    probe.register_blueprint(africastalking.bp)
    return webhook_urls(probe)


URLS = _discover()

# Digits of the scripts callers' phones type in: isdigit() takes them all, int() not all.
DIGITS = {
    "ascii": "0123456789",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "extended-arabic-indic": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
    "ethiopic": "፩፪፫፬፭፮፯፰፱",
    "fullwidth": "０１２３４５６７８９",
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
}
any_digits = st.text(alphabet=st.sampled_from("".join(DIGITS.values())), min_size=1, max_size=9)
keys = st.sampled_from(["1", "2", "3", "4", "0", "98", "99", "00", "", "9", "12", "x"]) | any_digits
values = st.one_of(
    st.sampled_from(HOSTILE),
    any_digits,
    st.tuples(st.sampled_from(["STATUS", "status", "OK", "INFO", "DONE", "ALERT", "SUIVI"]),
              any_digits).map(" ".join),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=2500),
    st.lists(keys, max_size=14).map("*".join),
    st.from_regex(r"\+?[0-9 ]{0,20}", fullmatch=True),
)
forms = st.fixed_dictionaries(
    {},
    optional={
        "sessionId": st.sampled_from(["s1", "s2", "s3", "ATUid_x", ""]) | values,
        "phoneNumber": st.sampled_from(["+243970001234", "+236700000001", ""]) | values,
        "text": st.lists(keys, max_size=14).map("*".join) | values,
        "id": values,
        "status": st.sampled_from(["Success", "Failed", "Sent", "Rejected"]) | values,
    },
).flatmap(
    lambda base: st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), values,
                                 max_size=4).map(lambda extra: {**extra, **base})
)
raw_bodies = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.binary(max_size=40), max_size=8).map(b"&".join),
    st.sampled_from([b"text=%ff%fe", b"phoneNumber=%c0%af&sessionId=\xff\xfe", b"=&=&&==", b"%"]),
)
content_types = st.sampled_from([
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz", "multipart/form-data", "text/plain",
    "application/json", "",
])


@pytest.fixture
def fuzz_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(WEBHOOK_TOKEN=TOKEN, RATE_PER_CALLER=(0, 60), RATE_PER_ADDRESS=(0, 60))
    deployment.standard(app)
    return app


def assert_proper(url: str, response) -> None:  # noqa: ANN001 - a test response
    assert response.status_code < 500, (url, response.status_code, response.data[:200])
    if response.status_code == 200 and url.endswith("/ussd"):
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body.startswith(("CON ", "END ")), body


def assert_nothing_twice_or_half(app: Flask) -> None:
    """Every case whole: created once, with its reporter and its creation event."""
    with session_scope(app) as session:
        cases = session.scalars(select(Case)).all()
        for case in cases:
            created = session.scalar(
                select(func.count()).select_from(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.kind == "created")
            )
            assert created == 1, case.id
            assert case.reporter_id is not None and case.source_key
        keys_ = [case.source_key for case in cases]
        assert len(keys_) == len(set(keys_))


def test_every_webhook_is_fuzzed(fuzz_app: Flask) -> None:
    assert URLS == webhook_urls(fuzz_app)


@pytest.mark.parametrize("url", URLS)
def test_hostile_forms_get_a_4xx_or_a_proper_answer(fuzz_app: Flask, url: str) -> None:
    client: FlaskClient = fuzz_app.test_client()

    @SETTINGS
    @given(form=forms)
    def post(form: dict[str, str]) -> None:
        assert_proper(url, client.post(f"{url}?token={TOKEN}", data=form))

    post()
    assert_nothing_twice_or_half(fuzz_app)


@pytest.mark.parametrize("url", URLS)
def test_raw_bytes_get_a_4xx_or_a_proper_answer(fuzz_app: Flask, url: str) -> None:
    client: FlaskClient = fuzz_app.test_client()

    @SETTINGS
    @given(body=raw_bodies, content_type=content_types)
    def post(body: bytes, content_type: str) -> None:
        response = client.post(f"{url}?token={TOKEN}", data=body, content_type=content_type)
        assert_proper(url, response)

    post()
    assert_nothing_twice_or_half(fuzz_app)


def test_a_repeated_hostile_walk_makes_one_whole_case(fuzz_app: Flask) -> None:
    """A full alert with junk fields around it, every hop posted twice: one whole case."""
    client = fuzz_app.test_client()
    guide = Caller(client, phone="+243970005555", token=TOKEN)
    walk_alert(guide)
    for hop in range(len(guide.inputs) + 1):
        text = "*".join(guide.inputs[:hop])
        for _ in range(2):
            response = client.post(
                f"/africastalking/ussd?token={TOKEN}",
                data={"sessionId": "fuzz-walk", "phoneNumber": "+243970001234", "text": text,
                      "junk": "'; DROP TABLE cases; --", "serviceCode": "\x01*#"},
            )
            assert_proper("/africastalking/ussd", response)
    assert response.get_data(as_text=True) == guide.screen.replace(
        reference_in(guide.screen), reference_in(response.get_data(as_text=True))
    )
    with session_scope(fuzz_app) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    assert_nothing_twice_or_half(fuzz_app)


SMS_SENDERS = ["+243990008001", "+243990008002", "+243990008003"]
sms_texts = st.one_of(
    values,
    st.sampled_from(["ALERT", "STATUS", "HELP", "langue"]),
    st.lists(keys, min_size=1, max_size=3).map(" ".join),
)


def test_sms_in_digits_of_any_script_are_all_read_by_the_worker(
    fuzz_app: Flask, run_jobs: Callable[..., None]
) -> None:
    """Keywords, answers and references in any digits: every SMS read, none left or failed."""
    client: FlaskClient = fuzz_app.test_client()
    url = "/africastalking/sms"

    @settings(SETTINGS, max_examples=max(EXAMPLES // 4, 50))
    @given(sender=st.sampled_from(SMS_SENDERS), words=sms_texts)
    def post(sender: str, words: str) -> None:
        response = client.post(f"{url}?token={TOKEN}", data={
            "from": sender, "to": "12345", "text": words, "date": "2026-11-27 10:00:00",
            "id": uuid.uuid4().hex, "networkCode": "63001",
        })
        assert_proper(url, response)

    post()
    run_jobs(fuzz_app)
    with session_scope(fuzz_app) as session:
        statuses = session.scalars(select(InboundMessage.status)).all()
    assert statuses and set(statuses) == {InboundStatus.PROCESSED}
    assert_nothing_twice_or_half(fuzz_app)
