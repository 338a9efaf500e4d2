"""The benchmark still runs: a few dozen alerts through benchmarks/run.py, none lost or doubled.

It starts its own gunicorn servers, RQ worker, redis-server, Africa's Talking stand-in and an
SQLite file (never the tests' database: it empties the one it is given), in a temporary folder
of this test's. Only what the JSON counts is asserted, never a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BOUND = 180  # seconds: a stuck run fails here, not the suite (it takes 30-40 s)


def test_a_small_burst_reaches_the_provider_once_each(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"
    # No DATABASE_URL nor REDIS_URL: run.py would empty those. Its temporary folder lies in
    # this test's, where the leak check (tests/conftest.py) looks for orphans.
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL")}
    env["TMPDIR"] = str(tmp_path)
    argv = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--alerts", "30",
            "--callers", "4", "--bare-seconds", "1", "--workers", "1", "--web-workers", "1",
            "--threads", "2", "--drain-timeout", "60", "--json", str(figures_path)]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        # SIGTERM: run.py stops every process it started on its way out.
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        raise AssertionError(
            f"the benchmark ran over {BOUND}s:\n{output.decode()[-3000:]}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = output.decode()
    assert figures_path.exists(), text[-3000:]
    figures = json.loads(figures_path.read_text())
    assert process.returncode == 0, text[-3000:]
    assert figures["gateway"]["alerts"] >= 30
    assert figures["gateway"]["caller_errors"] == 0, figures["errors_sample"]
    assert figures["delivery"]["lost"] == 0
    assert figures["delivery"]["sent_twice"] == 0
    assert figures["delivery"]["sms_received"] >= figures["gateway"]["alerts"]
    # Nothing it started is left running (its process groups, the stand-in).
    assert not [p for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE]
