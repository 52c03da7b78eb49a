"""What the benchmarks share: the result row, the table printer, a bench events.json,
moto's server in a subprocess, and a description of the machine.

Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION,
           "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}


@contextlib.contextmanager
def aws_environment() -> Iterator[None]:
    """``AWS_ENV`` in this process's environment (in-process AWS clients read their credentials
    there) for a with-block or a decorated function, then put back as it was: a bench run inside
    the test process leaves the tests after it as it found them."""
    saved = {name: os.environ.get(name) for name in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


BENCH_EVENT = "bench-big-night"
BENCH_EVENT_TOTAL_DOLLARS = 1_000_000  # the largest total events.json accepts: room for every bench payment


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table. ``ratio`` is figure / baseline, both measured in the same run;
    ``met`` is None where there is no goal."""

    name: str
    figure: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None
    command: str = ""


def print_table(rows: Sequence[Row], title: str = "") -> None:
    if title:
        print(f"\n{title}")
    header = ("row", "figure", "baseline", "ratio", "goal", "met?")
    cells = [header] + [
        (r.name, r.figure, r.baseline, "—" if r.ratio is None else f"{r.ratio:.2f}×", r.goal or "—",
         "—" if r.met is None else ("yes" if r.met else "NO"))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for n, line in enumerate(cells):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("-+-".join("-" * width for width in widths))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 2,000 samples is the 1,980th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 9))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_bench_events(folder: Path) -> Path:
    """An events.json with one event whose total leaves room for every payment the benches make."""
    path = folder / "events.json"
    path.write_text(json.dumps({"events": [
        {"id": BENCH_EVENT, "title": "Bench Big Night", "date": "2027-06-01", "total": BENCH_EVENT_TOTAL_DOLLARS},
    ], "sites": []}))
    return path


def machine() -> dict[str, str]:
    """Cores, CPU model, memory, Python and OS, as BENCHMARKS.md records them."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError as exc:  # not Linux: the table says so instead of a model name
        cpu = f"unknown ({exc.strerror})"
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError as exc:
        memory = f"unknown ({exc.strerror})"
    return {"cores": str(os.cpu_count()), "cpu": cpu, "memory": memory,
            "python": platform.python_version(), "os": platform.platform()}


# -- moto's server in its own process ---------------------------------------------------------------------------


class _OneRequestAtATime:
    """moto's backends are not thread-safe (a cancelled TransactWriteItems restores a snapshot of the
    whole table); real DynamoDB applies each request atomically. Same wrapper as tests/stores.py."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


def serve_moto_forever(port_file: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from tests.fakes.moto_speed import copy_only_touched_items

    copy_only_touched_items()  # as the tests' moto: the same answers, without a table copy per transaction item

    server = make_server("127.0.0.1", 0, _OneRequestAtATime(DomainDispatcherApplication(create_backend_app)),
                         threaded=True)
    publish_port(port_file, server.server_port)
    server.serve_forever()


class MotoProcess:
    """moto's server on 127.0.0.1 in a subprocess, so its CPU is not the measured process's."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="opsbot-bench-moto-")
        port_file = Path(self.dir) / "port"
        code = f"import sys; sys.path.insert(0, {str(REPO)!r}); from bench.common import serve_moto_forever; " \
               f"serve_moto_forever({str(port_file)!r})"
        self.process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **AWS_ENV},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{wait_for_port_file(port_file, self.process, 'moto')}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> MotoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_port(port_file: str | Path, port: int) -> None:
    """Tell the parent process where we listen: written whole (rename), so it never reads half a number."""
    partial = Path(f"{port_file}.partial")
    partial.write_text(str(port))
    os.replace(partial, port_file)


def wait_for_port_file(port_file: Path, process: subprocess.Popen, what: str, timeout: float = 60) -> str:
    """The port a child process wrote to ``port_file`` once it listens (the child writes it last)."""
    deadline = time.monotonic() + timeout
    while True:
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text:
            return text
        if process.poll() is not None:
            raise SystemExit(f"{what} did not start (exit status {process.returncode})")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{what} did not start within {timeout:.0f}s")
        time.sleep(0.02)  # a child process's start-up: nothing to wait on but the file
