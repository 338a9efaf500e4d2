"""The hop against the bare endpoint and the floor design, under the same gunicorn, with wrk.

    python benchmarks/hop_wrk.py [--rounds 3] [--seconds 10] [--connections 16]

Serves, one after the other and alternating for --rounds, the bare Flask endpoint
(../shared/bench/bare_app.py), the floor of the hop's design (../shared/bench/floor_app.py) and
the gateway, each with `gunicorn -c python:gateway.web.gunicorn_conf` (2 processes x 4 threads),
and walks USSD alert sessions against each with wrk (benchmarks/hop_walk.lua: one connection per
wrk thread, every hop carrying the inputs so far, the final hop filing the case). Uses
DATABASE_URL and REDIS_URL like benchmarks/run.py (both emptied), else SQLite and a
redis-server it starts. No RQ worker runs: route jobs wait in Redis. Prints one JSON line per
measurement and a summary with the ratios to bare of each round.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import (  # noqa: E402
    BIN,
    ROOT,
    TOKEN,
    WALK,
    _options,
    free_port,
    gateway_env,
    prepare_database,
    start_redis,
    wait_http,
)

SHARED = Path(os.environ.get("GATEWAY_BENCH_SHARED", ROOT.parent / "shared" / "bench"))
LUA = Path(__file__).resolve().parent / "hop_walk.lua"
RESULT = re.compile(r"Requests/sec:\s+([\d.]+)")
LAT = re.compile(r"LAT p50=([\d.]+) p99=([\d.]+) max=([\d.]+)")
WALKS = re.compile(r"WALKS (\d+) WRONG (\d+)")


def post(port: int, form: dict[str, str]) -> str:
    """Post one hop and return the screen."""
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/africastalking/ussd?token={TOKEN}",
                                data, timeout=10) as answer:
        return answer.read().decode()


def inputs_of_walk(port: int) -> list[str]:
    """Walk the alert once through a served gateway; return the caller's inputs, in order."""
    form = {"sessionId": f"probe_{secrets.token_hex(4)}", "serviceCode": "*384*1234#",
            "phoneNumber": "+243700000001", "networkCode": "63001", "text": ""}
    inputs: list[str] = []
    screen = post(port, form)
    for action, value in WALK:
        key = value
        if action == "choose":
            key = next(n for n, label in _options(screen).items() if value.lower() in label.lower())
        inputs.append(key)
        form["text"] = "*".join(inputs)
        screen = post(port, form)
    while screen.startswith("CON "):
        sends = [n for n, label in _options(screen).items() if "send" in label.lower()]
        inputs.append(sends[0] if sends else "1")
        form["text"] = "*".join(inputs)
        screen = post(port, form)
    if not screen.startswith("END "):
        raise RuntimeError(f"the probe walk did not end: {screen!r}")
    return inputs


def serve(app: str, env: dict[str, str], port: int, pythonpath: str | None,
          tree: Path = ROOT) -> subprocess.Popen:
    """Start gunicorn with the gateway's production settings on a port (the gateway of tree)."""
    argv = [str(BIN / "gunicorn"), "-c", "python:gateway.web.gunicorn_conf"]
    for path in (pythonpath, str(tree) if tree != ROOT else None):
        if path:
            argv += ["--pythonpath", path]
    argv.append(app)
    process = subprocess.Popen(argv, env={**env, "PORT": str(port)}, cwd=tree,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    wait_http(port, "/healthz" if app.startswith("gateway") else "/")
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a gunicorn and its workers."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_wrk(port: int, args: argparse.Namespace, inputs: list[str], prefix: str,
            check: bool) -> dict[str, float]:
    """Walk sessions with wrk for --seconds; return requests/s, latency and error counts."""
    argv = ["wrk", f"-t{args.connections}", f"-c{args.connections}", f"-d{args.seconds}s",
            "-s", str(LUA), f"http://127.0.0.1:{port}/africastalking/ussd?token={TOKEN}",
            "--", "*".join(inputs), prefix] + (["check"] if check else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate, lat, walks = RESULT.search(out), LAT.search(out), WALKS.search(out)
    if not (rate and lat and walks):
        raise RuntimeError(out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(rate.group(1)), "p50_ms": float(lat.group(1)),
            "p99_ms": float(lat.group(2)), "max_ms": float(lat.group(3)),
            "walks": int(walks.group(1)), "wrong": int(walks.group(2)),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", default="bare,floor,hop")
    parser.add_argument("--before", type=Path, default=None,
                        help="a copy of the project as it was: its hop is measured too "
                             "(as hop_before), alternating with the others")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="gateway-hopwrk-"))
    redis_server = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server, redis_url = start_redis()
        args.redis_url, args.database_url = redis_url, os.environ.get("DATABASE_URL")
        env = gateway_env(args, folder, free_port())
        import redis as redis_py

        redis_py.Redis.from_url(redis_url).flushdb()
        prepare_database(env)
        apps = {
            "bare": ("bare_app:app", str(SHARED), ROOT),
            "floor": ("floor_app:app", str(SHARED), ROOT),
            "hop": ("gateway:create_app()", None, ROOT),
        }
        chosen = [name for name in args.only.split(",") if name in apps]
        if args.before is not None:
            apps["hop_before"] = ("gateway:create_app()", None, args.before.resolve())
            chosen.insert(chosen.index("hop") if "hop" in chosen else len(chosen), "hop_before")
        port = free_port()
        process = serve(apps["hop"][0], env, port, None)
        try:
            inputs = inputs_of_walk(port)
        finally:
            stop(process)
        print(json.dumps({"inputs": "*".join(inputs), "hops_per_walk": len(inputs) + 1}))
        results: dict[str, list[dict[str, float]]] = {name: [] for name in chosen}
        for round_ in range(args.rounds):
            for name in chosen:
                app, path, tree = apps[name]
                port = free_port()
                process = serve(app, env, port, path, tree)
                try:
                    measured = run_wrk(port, args, inputs, f"r{round_}{secrets.token_hex(3)}",
                                       check=name.startswith("hop"))
                finally:
                    stop(process)
                results[name].append(measured)
                print(json.dumps({"round": round_, "app": name, **measured}), flush=True)
        summary: dict[str, object] = {
            name: {"rps": [r["rps"] for r in runs], "p99_ms": [r["p99_ms"] for r in runs]}
            for name, runs in results.items()
        }
        if "bare" in results:
            for name in results:
                if name != "bare":
                    summary[f"{name}/bare"] = [
                        round(r["rps"] / b["rps"], 3)
                        for r, b in zip(results[name], results["bare"], strict=True)
                    ]
        print(json.dumps({"summary": summary}))
        wrong = sum(r["wrong"] + r["non_2xx"] for name in ("hop", "hop_before")
                    for r in results.get(name, []))
        return 1 if wrong else 0
    finally:
        if redis_server is not None:
            redis_server.terminate()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
