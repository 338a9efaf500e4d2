"""The hop's cost in trips: two to Redis, none to the database on an ordinary hop, and the
limits and the caller's language memory it folds into those two trips still hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from redis import Redis
from sqlalchemy import event, select

from gateway.channels.reporters import language_key, language_seconds, remembered_language
from gateway.privacy.limits import refusal_counts
from gateway.privacy.pseudonyms import caller_pseudonym
from gateway.storage import db
from gateway.storage.db import session_scope
from gateway.storage.models import Reporter
from tests.caller import Caller

PHONE = "+243970005555"
FLOODER = "203.0.113.9"


class CountingRedis(Redis):
    """A real Redis client that counts its round trips (a pipeline is one)."""

    trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        self.trips += 1
        return super().pipeline(transaction, shard_hint)


def _counted_app(make_app: Callable[..., Flask], redis_connection: Redis,
                 **config: Any) -> tuple[Flask, CountingRedis, list[str]]:
    redis = CountingRedis(connection_pool=redis_connection.connection_pool)
    app = make_app(redis=redis, **config)
    statements: list[str] = []
    event.listen(db.get_engine(app), "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    return app, redis, statements


def test_an_ordinary_hop_makes_two_redis_trips_and_no_database_work(
    make_app: Callable[..., Flask], redis_connection: Redis,
) -> None:
    app, redis, statements = _counted_app(make_app, redis_connection)
    warm = Caller(app.test_client(), phone="+243970005556")
    warm.dial()  # loads the scripts into Redis
    caller = Caller(app.test_client(), phone=PHONE)
    caller.dial()
    redis.trips, statements[:] = 0, []
    caller.choose("English")
    # The language hop: the caller's language is kept with the save, not by a commit; one
    # more trip reads whether a cut report of this caller may be continued.
    assert statements == [] and redis.trips <= 3
    for label in ("Report a child in danger",):
        redis.trips = 0
        caller.choose(label)
        assert caller.screen.startswith("CON ")
        # Address limit + caller limit + lock + record in one script, save + unlock in one.
        assert (redis.trips, statements) == (2, [])


def test_the_rate_per_address_still_holds_on_the_hop(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_PER_ADDRESS=(4, 60))
    client = app.test_client()

    def hop(address: str, session: str = "s1", phone: str = PHONE) -> int:
        return client.post("/africastalking/ussd", environ_base={"REMOTE_ADDR": address}, data={
            "sessionId": session, "phoneNumber": phone, "serviceCode": "*384*1234#",
            "text": "",
        }).status_code

    # A bad request is counted too, although it never reaches the hop's script.
    statuses = [hop(FLOODER), hop(FLOODER, session=""), hop(FLOODER, session="s2"),
                hop(FLOODER, phone="12"), hop(FLOODER, session="s3")]
    assert statuses == [200, 400, 200, 200, 429]
    assert hop("198.51.100.7") == 200  # another address has its own budget
    with app.app_context():
        assert refusal_counts()["address_rate"] == 1


def test_the_language_is_kept_in_redis_then_written_at_the_session_end(
    make_app: Callable[..., Flask], redis_connection: Redis,
) -> None:
    app = make_app()
    caller = Caller(app.test_client(), phone=PHONE)
    caller.dial()
    caller.choose("English")
    with app.app_context():
        pseudonym = caller_pseudonym(PHONE)
        key = language_key(pseudonym)
        assert remembered_language(pseudonym) == "en"  # what SMS replies use
        seconds = language_seconds()
    assert redis_connection.get(key) in (b"en", "en")
    assert seconds - 60 < redis_connection.ttl(key) <= seconds  # the reporter link period
    for name in redis_connection.keys("*"):
        name = name.decode() if isinstance(name, bytes) else name
        assert PHONE[1:] not in name and pseudonym not in name
    with session_scope(app) as session:
        assert session.scalars(select(Reporter)).all() == []  # nothing written by the hops
    caller.hang_up("Incomplete")
    with session_scope(app) as session:
        [reporter] = session.scalars(select(Reporter)).all()
        assert (reporter.pseudonym, reporter.language) == (pseudonym, "en")
