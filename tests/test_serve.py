"""The README's first command, as a newcomer runs it: seed-demo, serve, a call, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

from tests.faults.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def _env(data_dir: Path, port: int) -> dict[str, str]:
    """No settings at all: the embedded default, as on a fresh machine."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GATEWAY_", "AT_")) and key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GATEWAY_DATA_DIR=str(data_dir), PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def _hop(port: int, text: str) -> str:
    form = urllib.parse.urlencode({
        "sessionId": "readme-demo", "serviceCode": "*384*1234#", "phoneNumber": "+236700000099",
        "networkCode": "62301", "text": text,
    }).encode()
    url = f"http://127.0.0.1:{port}/africastalking/ussd"
    with urllib.request.urlopen(url, data=form, timeout=10) as response:
        return response.read().decode()


def test_seed_demo_then_serve_shows_the_focal_points_sms_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = _env(tmp_path / "instance", port)
    gateway = [sys.executable, "-m", "gateway"]
    seeded = subprocess.run([*gateway, "seed-demo"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen([*gateway, "serve"], env=env, cwd=ROOT, stdout=out,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    first = _hop(port, "")
                    break
                except OSError:
                    assert serve.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.3)
            assert first.startswith("CON 1 Français")
            # English; report; continue; recruited; Ouaka; Bambari; 2-3; girls; danger now;
            # no SMS later; send.
            inputs = ["2", "1", "1", "1", "4", "2", "2", "1", "1", "2", "1"]
            end = ""
            for i in range(1, len(inputs) + 1):
                end = _hop(port, "*".join(inputs[:i]))
            assert end.startswith("END Thank you. Your report number is"), end
            reference = end.split("is ")[1].split(".")[0]
            # The worker started by serve routes it; with no provider the SMS is printed.
            deadline = time.monotonic() + 30
            while f"alerte enfant {reference}" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
            assert "Bambari" in log.read_text()
            children = psutil.Process(serve.pid).children(recursive=True)
            assert children  # the worker and the embedded Redis server
        finally:
            serve.send_signal(signal.SIGINT)  # Ctrl-C
            code = serve.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert "236700000099" not in log.read_text()  # the caller's number: nowhere
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"outlived Ctrl-C: {[p.cmdline() for p in alive]}"
