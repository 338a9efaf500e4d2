"""Profile the USSD hop in one process: alert walks through Flask's test client under cProfile.

    python benchmarks/profile_hop.py --walks 300 [--top 40]

Uses DATABASE_URL and REDIS_URL like benchmarks/run.py (both emptied), else an SQLite file
in a temporary folder and a redis-server it starts. Prints milliseconds per hop, then the
functions that took the most time, cumulative.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import WALK, _options, prepare_database, start_redis  # noqa: E402

# Production settings need a webhook token; the bare endpoint ignores the query string.
TOKEN = "bench-webhook-token-3f9a1c7e5b2d8064a1f3c9e7b5d2"
HOP_PATH = f"/africastalking/ussd?token={TOKEN}"

def walk(client, number: int) -> int:
    """Walk one alert to its END screen; return the number of hops."""
    form = {"sessionId": f"prof_{number}_{secrets.token_hex(4)}", "serviceCode": "*384*1234#",
            "phoneNumber": f"+24370{number:07d}", "networkCode": "63001", "text": ""}
    inputs: list[str] = []
    screen = client.post(HOP_PATH, data=form).get_data(as_text=True)
    hops = 1
    for action, value in WALK:
        key = value
        if action == "choose":
            key = next(n for n, label in _options(screen).items() if value.lower() in label.lower())
        inputs.append(key)
        form["text"] = "*".join(inputs)
        screen = client.post(HOP_PATH, data=form).get_data(as_text=True)
        hops += 1
    while screen.startswith("CON "):
        sends = [n for n, label in _options(screen).items() if "send" in label.lower()]
        inputs.append(sends[0] if sends else "1")
        form["text"] = "*".join(inputs)
        screen = client.post(HOP_PATH, data=form).get_data(as_text=True)
        hops += 1
    if not screen.startswith("END "):
        raise RuntimeError(screen)
    return hops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=200)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gateway-prof-"))
    server = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            server, redis_url = start_redis()
        from gateway.storage.crypto import new_key

        os.environ.update(
            DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'gateway.db'}",
            REDIS_URL=redis_url, GATEWAY_SECRET_KEY=secrets.token_urlsafe(48),
            GATEWAY_WEBHOOK_TOKEN=TOKEN,
            GATEWAY_ENCRYPTION_KEYS=new_key(), GATEWAY_DATA_DIR=str(folder / "data"),
            GATEWAY_LANGUAGES="fr,en", GATEWAY_RATE_PER_ADDRESS="100000000/60",
            GATEWAY_RATE_PER_CALLER="1000/60", GATEWAY_FLOOD_CASES_PER_HOUR="100000000",
        )
        import redis as redis_py

        redis_py.Redis.from_url(redis_url).flushdb()
        prepare_database(dict(os.environ))
        from gateway import create_app

        app = create_app()
        client = app.test_client()
        walk(client, 0)  # warm up
        profile = cProfile.Profile()
        started = time.perf_counter()
        hops = 0
        if not args.no_profile:
            profile.enable()
        for number in range(1, args.walks + 1):
            hops += walk(client, number)
        profile.disable()
        seconds = time.perf_counter() - started
        print(f"{hops} hops in {seconds:.2f} s: {seconds / hops * 1000:.2f} ms per hop")
        if not args.no_profile:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        return 0
    finally:
        if server is not None:
            server.terminate()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
