"""The Primero job: push one case's MRM incident (gateway/partners/primero.py does the work)."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.partners.primero import push


def push_case(case_id: int, again: bool = False) -> None:
    """Push a case to Primero and record the outcome; safe to run twice."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    push(app, case_id, again)
