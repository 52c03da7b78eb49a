"""Cold start: how long a fresh Python process takes to import the Lambda entry
(``bot.entrypoints.aws_lambda``) and the app module (``bot.bootstrap``), against importing
``slack_bolt`` alone; and, for the record, the whole first-request set-up.

    .venv/bin/python bench/coldstart_bench.py             # 15 runs of each, alternating
    .venv/bin/python bench/coldstart_bench.py --runs 3    # a quick look

    .venv/bin/python bench/coldstart_bench.py --runs 9 --before /work/main   # and an earlier checkout

Every figure comes from a new interpreter (``python -c``), the variants taking
turns so that noise falls on all of them; the figure is the median. One run of
each comes first and is not counted (it compiles the .pyc files of anything
edited since, as a deployment package built with them would have). "import" is
timed inside the child around the import statement alone (the interpreter's own
start is the same for every variant and is reported apart, as "process"). The
set-up rows add what the first Lambda request does before it can answer:
``build_lambda_bot`` (events.json, the DynamoDB store's botocore client, the Bolt
app with every listener, the WSGI app) against a bare Bolt ``App`` wrapped in
Bolt's own Lambda handler (goal: 1.3×, issue 19). For the record, the same bare app
with a DynamoDB client built beside it: what a Bolt app that keeps anything in
DynamoDB cannot do without. Nothing reaches the network: the AWS clients are
built, never called, and token verification is off on both sides (as on Lambda).

The children run with the bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed
from their environment): with it set, the uncounted first run could not write the
.pyc files and every counted run would compile opsbot's own modules from source,
which neither a deployment package nor an installed server does.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import AWS_ENV, REPO, Row, median, print_table  # noqa: E402

GOAL_RATIO = 1.5
GOAL_FIRST_REQUEST = 1.3
COMMAND = ".venv/bin/python bench/coldstart_bench.py"

_SETTINGS = (
    "from bot.config import load_settings\n"
    "settings = load_settings(environ={'OPSBOT_STORE': 'dynamodb://opsbot-coldstart', 'AWS_REGION': 'us-west-2', "
    "'SLACK_BOT_TOKEN': 'xoxb-coldstart', 'SLACK_SIGNING_SECRET': 'coldstart-secret', "
    f"'OPSBOT_EVENTS_FILE': {str(REPO / 'events.json')!r}, 'OPSBOT_AUDIT_CHANNEL': 'C0COLDSTART', "
    "'AWS_LAMBDA_FUNCTION_NAME': 'opsbot-coldstart'}, env_file=None)\n"
)

# name -> (code run before the clock starts, code timed)
VARIANTS: dict[str, tuple[str, str]] = {
    "import slack_bolt": ("", "import slack_bolt"),
    "import bot.entrypoints.aws_lambda": ("", "import bot.entrypoints.aws_lambda"),
    "import bot.bootstrap": ("", "import bot.bootstrap"),
    "bare Bolt App + Lambda handler": ("", (
        "from slack_bolt import App\n"
        "from slack_bolt.adapter.aws_lambda import SlackRequestHandler\n"
        "app = App(signing_secret='coldstart-secret', token='xoxb-coldstart', token_verification_enabled=False, "
        "process_before_response=True)\n"
        "app.command('/log-payment')(lambda ack: ack())\n"
        "SlackRequestHandler(app)\n")),
    "bare Bolt App + Lambda handler + DynamoDB client": ("", (
        "from slack_bolt import App\n"
        "from slack_bolt.adapter.aws_lambda import SlackRequestHandler\n"
        "import boto3\n"
        "app = App(signing_secret='coldstart-secret', token='xoxb-coldstart', token_verification_enabled=False, "
        "process_before_response=True)\n"
        "app.command('/log-payment')(lambda ack: ack())\n"
        "SlackRequestHandler(app)\n"
        "boto3.client('dynamodb', region_name='us-west-2')\n")),
    "bot.entrypoints.aws_lambda + build_lambda_bot": ("", "import bot.entrypoints.aws_lambda\n" + _SETTINGS
                                          + "bot.entrypoints.aws_lambda.build_lambda_bot(settings)\n"),
}
OPSBOT_VARIANTS = ("import bot.entrypoints.aws_lambda", "import bot.bootstrap",
                   "bot.entrypoints.aws_lambda + build_lambda_bot")


def child_code(variant: str, repo: Path = REPO) -> str:
    before, timed = VARIANTS[variant]
    body = "\n".join("    " + line for line in timed.strip().replace(str(REPO), str(repo)).splitlines())
    return (f"import sys, time\nsys.path.insert(0, {str(repo)!r})\n{before}\n"
            f"started = time.perf_counter()\nif True:\n{body}\n"
            f"print(time.perf_counter() - started)\n")


def child_env() -> dict[str, str]:
    # Fake AWS credentials so boto3 builds its client without looking further; nothing is called.
    env = {**os.environ, **AWS_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the uncounted first run writes the .pyc files (see above)
    return env


def measure(variant: str, python: str = sys.executable, repo: Path = REPO) -> tuple[float, float]:
    """(seconds of the timed code, seconds of the whole process) in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run([python, "-c", child_code(variant, repo)], env=child_env(), cwd=repo, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed in a fresh interpreter:\n{done.stderr.strip()}")
    return float(done.stdout.strip().splitlines()[-1]), wall


def heaviest_imports(variant: str, top: int = 8, python: str = sys.executable) -> list[tuple[str, float]]:
    """The top-level imports that cost most in ``variant`` (``python -X importtime``), as (module, ms)."""
    done = subprocess.run([python, "-X", "importtime", "-c", child_code(variant)], env=child_env(), cwd=REPO,
                          capture_output=True, text=True, check=True)
    costs: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match[2]) <= 1 and match[3] not in ("site", "encodings"):
            costs[match[3]] = costs.get(match[3], 0) + int(match[1]) / 1000
    return sorted(costs.items(), key=lambda item: -item[1])[:top]


@dataclass(frozen=True)
class Result:
    runs: int
    timed: dict[str, list[float]]
    process: dict[str, list[float]]
    before: dict[str, list[float]] = field(default_factory=dict)  # an earlier checkout's opsbot variants (--before)

    def median(self, variant: str) -> float:
        return median(self.timed[variant])

    def ratio(self, variant: str, baseline: str) -> float:
        """Median of the per-run ratios (run n of the variant against run n of the baseline)."""
        return median([a / b for a, b in zip(self.timed[variant], self.timed[baseline], strict=True)])


def run(runs: int = 15, log: Callable[[str], None] = print, before: Path | None = None) -> Result:
    """``before``: a checkout of an earlier opsbot (with its own .venv) whose variants take the same turns."""
    timed: dict[str, list[float]] = {v: [] for v in VARIANTS}
    process: dict[str, list[float]] = {v: [] for v in VARIANTS}
    earlier: dict[str, list[float]] = {v: [] for v in OPSBOT_VARIANTS} if before else {}
    turns = [(v, False) for v in VARIANTS] + [(v, True) for v in earlier]
    for variant, old in turns:
        measure(*_where(variant, old, before))  # not counted: writes the .pyc files of anything edited since
    for n in range(runs):
        order = turns[n % len(turns):] + turns[:n % len(turns)]  # a different variant goes first each run
        for variant, old in order:
            seconds, wall = measure(*_where(variant, old, before))
            if old:
                earlier[variant].append(seconds)
                continue
            timed[variant].append(seconds)
            process[variant].append(wall)
    result = Result(runs, timed, process, earlier)
    for variant in VARIANTS:
        log(f"  {variant:<36} median {result.median(variant) * 1000:6.0f} ms "
            f"(whole process {median(process[variant]) * 1000:4.0f} ms) over {runs} fresh interpreters")
    for variant, times in earlier.items():
        log(f"  before: {variant:<28} median {median(times) * 1000:6.0f} ms")
    return result


def _where(variant: str, old: bool, before: Path | None) -> tuple[str, str, Path]:
    if old and before is not None:
        return variant, str(before / ".venv" / "bin" / "python"), before
    return variant, sys.executable, REPO


def rows(result: Result, command: str = COMMAND) -> list[Row]:
    base = result.median("import slack_bolt") * 1000
    table = []
    for variant in ("import bot.entrypoints.aws_lambda", "import bot.bootstrap"):
        ratio = result.ratio(variant, "import slack_bolt")
        table.append(Row(f"cold start: {variant}", f"{result.median(variant) * 1000:.0f} ms",
                         f"import slack_bolt {base:.0f} ms", ratio, f"≤ {GOAL_RATIO:.1f}×", ratio <= GOAL_RATIO,
                         command))
    build, bare = "bot.entrypoints.aws_lambda + build_lambda_bot", "bare Bolt App + Lambda handler"
    with_client = "bare Bolt App + Lambda handler + DynamoDB client"
    first = result.ratio(build, bare)
    table.append(Row("cold start: import + build_lambda_bot (first request's set-up)",
                     f"{result.median(build) * 1000:.0f} ms", f"bare Bolt App {result.median(bare) * 1000:.0f} ms",
                     first, f"≤ {GOAL_FIRST_REQUEST:.1f}×", first <= GOAL_FIRST_REQUEST, command))
    table.append(Row("cold start: import + build_lambda_bot vs a bare Bolt app that builds a DynamoDB client",
                     f"{result.median(build) * 1000:.0f} ms",
                     f"bare Bolt App + client {result.median(with_client) * 1000:.0f} ms",
                     result.ratio(build, with_client), "for the record", None, command))
    for variant, times in result.before.items():
        baseline = "import slack_bolt" if variant.startswith("import") else bare
        ratio = median([a / b for a, b in zip(times, result.timed[baseline], strict=True)])
        table.append(Row(f"cold start (before): {variant}", f"{median(times) * 1000:.0f} ms",
                         f"{baseline} {result.median(baseline) * 1000:.0f} ms", ratio, "for the record", None,
                         command))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per variant (default 15)")
    parser.add_argument("--before", type=Path, help="an earlier checkout (with its .venv) measured in the same turns")
    args = parser.parse_args(argv)
    print(f"Cold start, {args.runs} fresh interpreters per variant, taking turns:")
    result = run(args.runs, before=args.before)
    build = "bot.entrypoints.aws_lambda + build_lambda_bot"
    print(f"\nHeaviest top-level imports of '{build}' (python -X importtime, one run):")
    for module, ms in heaviest_imports(build):
        print(f"  {module:<36} {ms:6.0f} ms")
    print_table(rows(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
