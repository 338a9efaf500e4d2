"""The desk speaks French and English: the browser's language, else the gateway's default."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.desk.conftest import UserFactory, login, post
from tests.test_follow_up import report


def test_a_french_browser_reads_french_an_english_one_english(desk_app: Flask) -> None:
    french = desk_app.test_client()
    french.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr-CF,fr;q=0.9"
    page = french.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Se connecter" in page and "Log in" not in page
    english = desk_app.test_client()
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB,en;q=0.8"
    page = english.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in" in page and "Se connecter" not in page
    # A browser in neither language: the gateway's default language (fr in these tests).
    other = desk_app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "sw"
    assert "Se connecter" in other.get("/login").get_data(as_text=True)


def test_a_french_user_works_a_case_in_french(
    desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None]
) -> None:
    reference = report(desk_app.test_client(), sms_later=False)
    run_jobs(desk_app)
    make_user("cp@example.org", "child_protection", ["CF52"])
    client = desk_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    listing = login(client, "cp@example.org")
    assert f">{reference}</a>" in listing
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Historique" in page and "Prendre en charge" in page and "History" not in page
    status, html = post(client, f"/cases/{reference}/acknowledge", {}, page=page)
    assert status == 200 and "Cas pris en charge." in html
