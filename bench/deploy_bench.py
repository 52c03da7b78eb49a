"""Benchmark: opsbot's site deploy against `aws s3 sync` on the same moto server.

    .venv/bin/python bench/deploy_bench.py [--files 500]

Generates a site of N files (html, css with hashed names, js, svg, json, webp,
woff2), starts moto's server in a subprocess on 127.0.0.1 (with a counter of
the requests it serves), then deploys the site to staging:

- opsbot: the Deployer service (bot/core/deploy.py) through the real boto3 clients,
  first deploy, unchanged re-deploy, and a one-file change;
- awscli: `aws s3 sync --delete` then `aws cloudfront create-invalidation
  --paths '/_staging/*'` (the by-hand way this replaces), the same three runs.

It prints PutObject requests, other S3 requests, invalidations and wall time
for each, and how many uploaded objects carry the right media type, the exact
Content-Type (charset on text) and a Cache-Control header.

Then one large file (200 MB; ``--big-mb``): each deploy runs in a fresh
process so its peak RSS is its own: a one-page site (the baseline), and the
same site with the large file, deployed and then deployed again unchanged
(that second deploy must upload nothing); with awscli, ``aws s3 sync`` of the
same folder, its peak RSS measured the same way. Not part of the test suite.

awscli is not a project dependency. Install it into the venv without moving
botocore (boto3 pins it):

    .venv/bin/pip install awscli "botocore==$(.venv/bin/python -c 'import botocore; print(botocore.__version__)')"
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import AWS_ENV, REGION, aws_environment  # noqa: E402

ADMIN = "U0BENCH0001"


# -- moto's server, with a request counter ------------------------------------------------------------------


def classify(environ: dict[str, Any]) -> str:
    method, path, query = environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
    if path.startswith("/2020-05-31/"):
        if path.endswith("/invalidation") and method == "POST":
            return "CreateInvalidation"
        return "CloudFront other"
    bucket_and_key = path.lstrip("/").split("/", 1)
    has_key = len(bucket_and_key) == 2 and bucket_and_key[1] != ""
    if method == "PUT" and has_key and "partNumber=" in query:
        return "UploadPart"
    if method == "POST" and has_key and ("uploads" in query.split("&") or "uploadId=" in query):
        return "CreateMultipartUpload" if "uploadId=" not in query else "CompleteMultipartUpload"
    if method == "PUT" and has_key:
        return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in environ else "PutObject"
    if method == "GET" and not has_key:
        return "ListObjects" if "list-type" in query or not query else "S3 other"
    if method == "HEAD" and has_key:
        return "HeadObject"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return f"S3 {method}"


def serve_moto(port_file: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    moto = DomainDispatcherApplication(create_backend_app)
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/__bench__/counts":
            with lock:
                body = json.dumps(dict(counts)).encode()
                if environ["REQUEST_METHOD"] == "POST":
                    counts.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        with lock:
            counts[classify(environ)] += 1
        return moto(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    partial = Path(f"{port_file}.partial")  # written whole, then renamed: never read half a number
    partial.write_text(str(server.server_port))
    os.replace(partial, port_file)
    server.serve_forever()


class MotoServer:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="opsbot-bench-moto-")
        port_file = Path(self.dir) / "port"
        env = {**os.environ, **AWS_ENV}
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-moto", str(port_file)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("moto's server did not start")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{port_file.read_text()}"

    def take_counts(self) -> Counter[str]:
        """The requests served since the last call (and start counting again)."""
        request = urllib.request.Request(self.endpoint + "/__bench__/counts", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Counter(json.loads(answer.read()))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the site ------------------------------------------------------------------------------------------------------


def generate_site(root: Path, files: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    kinds = [("html", 0.1), ("css", 0.1), ("js", 0.2), ("svg", 0.1), ("json", 0.1), ("webp", 0.3), ("woff2", 0.1)]
    made = 0
    for kind, share in kinds:
        for i in range(max(1, round(files * share))):
            if made >= files:
                return
            folder = root / ("" if kind == "html" and i == 0 else f"{kind}/{i % 7}")
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "html":
                name = "index.html" if i % 10 == 0 else f"page{i}.html"
            elif kind in ("css", "js") and i % 2 == 0:
                name = f"bundle{i}.{rng.getrandbits(24):06x}a.{kind}"  # hashed names
            else:
                name = f"item{i}.{kind}"
            text_kind = kind in ("html", "css", "js", "svg", "json")
            size = rng.randint(300, 4000) if text_kind else rng.randint(2000, 30000)
            data = (rng.choice("abcdefgh <>{};\n") for _ in range(size)) if text_kind else None
            path = folder / name
            if text_kind:
                path.write_text("".join(data))
            else:
                path.write_bytes(rng.randbytes(size))
            made += 1


# -- the two ways ------------------------------------------------------------------------------------------------


def aws_client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def make_bucket_and_distribution(endpoint: str, name: str) -> str:
    aws_client(endpoint, "s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    config = {
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s", "DomainName": f"{name}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    }
    return aws_client(endpoint, "cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"]


class QuietNotifier:
    """The progress message goes nowhere; count what would have been sent."""

    def __init__(self) -> None:
        self.posts = self.updates = 0

    def post(self, channel: str, text: str, blocks: list[dict] | None = None) -> str:
        self.posts += 1
        return f"1700000000.{self.posts:06d}"

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        self.updates += 1

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None:
        """Not counted: the bench compares S3 and CloudFront work, and a deploy's replies are posts and updates."""

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None:
        """Not counted, as above."""


def opsbot_deployer(endpoint: str, work: Path, bucket: str, distribution: str, source: Path):
    from bot.bootstrap import build_services
    from bot.config import Settings, StoreSpec

    events = work / "events.json"
    events.write_text(json.dumps({"events": [], "sites": [{
        "id": "bench", "bucket": bucket, "distributionId": distribution, "source": str(source.relative_to(work)),
        "url": "https://bench.example.com"}]}))
    settings = Settings(store=StoreSpec("sqlite", str(work / "opsbot.db")), aws_region=REGION,
                        aws_endpoint_url=endpoint, events_file=events, admins=frozenset({ADMIN}))
    services = build_services(settings, notifier=QuietNotifier())
    services.store.init_schema()
    return services.deploys


def run_opsbot(deployer) -> dict[str, Any]:
    from bot.core.deploy import DeployRequest

    started = time.perf_counter()
    deployer.start(DeployRequest(deployer.catalog.site("bench"), "staging"), by=ADMIN, channel="C0BENCH0001")
    took = time.perf_counter() - started
    record = deployer.last_deploy("bench")
    assert record["result"] in ("deployed", "up to date"), record
    return {"seconds": took, "result": record["result"]}


def run_awscli(aws: str, endpoint: str, source: Path, bucket: str, distribution: str) -> dict[str, Any]:
    env = {**os.environ, **AWS_ENV}
    started = time.perf_counter()
    subprocess.run([aws, "s3", "sync", str(source), f"s3://{bucket}/_staging/", "--delete", "--only-show-errors",
                    "--endpoint-url", endpoint], env=env, check=True)
    synced = time.perf_counter()
    subprocess.run([aws, "cloudfront", "create-invalidation", "--distribution-id", distribution, "--paths",
                    "/_staging/*", "--endpoint-url", endpoint], env=env, check=True, stdout=subprocess.DEVNULL)
    return {"seconds": time.perf_counter() - started, "sync_seconds": synced - started}


def headers_right(endpoint: str, bucket: str, source: Path) -> tuple[int, int, int, int]:
    """(objects, with the media type opsbot's table gives, with exactly its Content-Type (charset
    included for text), with a Cache-Control header)."""
    from bot.core.deploy_plan import content_type

    s3 = aws_client(endpoint, "s3")
    media = exact = cached = total = 0
    for path in source.rglob("*"):
        if path.is_file():
            rel = path.relative_to(source).as_posix()
            head = s3.head_object(Bucket=bucket, Key=f"_staging/{rel}")
            expected, got = content_type(rel), head.get("ContentType", "")
            total += 1
            media += got.split(";")[0].strip() == expected.split(";")[0].strip()
            exact += got == expected
            cached += bool(head.get("CacheControl"))
    return total, media, exact, cached


@dataclass(frozen=True)
class DeployResult:
    files: int
    endpoint: str
    runs: list[tuple[str, str, Counter[str], dict[str, Any]]]  # (tool, run, requests served, timings)
    headers: dict[str, tuple[int, int, int, int]]  # tool -> headers_right(...)

    def run_of(self, tool: str, label: str) -> tuple[Counter[str], dict[str, Any]] | None:
        return next(((c, r) for t, lb, c, r in self.runs if (t, lb) == (tool, label)), None)


LABELS = ("first deploy", "unchanged re-deploy", "one file changed")


def find_aws() -> str | None:
    return shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


@aws_environment()
def run(files: int = 500, aws: str | None = None) -> DeployResult:
    """Deploy an N-file site three times with opsbot and, when ``aws`` (awscli's path) is given, with
    ``aws s3 sync`` + ``aws cloudfront create-invalidation``; every deploy checked (headers included)."""
    moto = MotoServer()
    work = Path(tempfile.mkdtemp(prefix="opsbot-bench-"))
    runs: list[tuple[str, str, Counter[str], dict[str, Any]]] = []
    try:
        source = work / "site"
        generate_site(source, files)
        count = sum(1 for p in source.rglob("*") if p.is_file())
        ours, theirs = f"opsbot-{uuid.uuid4().hex[:8]}", f"awscli-{uuid.uuid4().hex[:8]}"
        ours_dist = make_bucket_and_distribution(moto.endpoint, ours)
        theirs_dist = make_bucket_and_distribution(moto.endpoint, theirs) if aws else None
        deployer = opsbot_deployer(moto.endpoint, work, ours, ours_dist, source)
        deployer.poll_interval = 0.5
        moto.take_counts()
        one_file = next(p for p in sorted(source.rglob("*.js")))

        for label in LABELS:
            if label == "one file changed":
                one_file.write_text(one_file.read_text() + "\n// edited")
            result = run_opsbot(deployer)
            runs.append(("opsbot", label, moto.take_counts(), result))
            if aws:
                time.sleep(1.1)  # awscli compares modification times to the second
                result = run_awscli(aws, moto.endpoint, source, theirs, theirs_dist)
                runs.append(("aws s3 sync", label, moto.take_counts(), result))
        headers = {tool: headers_right(moto.endpoint, bucket, source)
                   for tool, bucket in (("opsbot", ours), ("aws s3 sync", theirs if aws else None)) if bucket}
        return DeployResult(count, moto.endpoint, runs, headers)
    finally:
        moto.close()
        shutil.rmtree(work, ignore_errors=True)


def other_s3(counts: Counter[str]) -> int:
    return sum(v for k, v in counts.items() if k not in ("PutObject", "CreateInvalidation")
               and not k.startswith("CloudFront"))


def report(result: DeployResult) -> None:
    print(f"\n{result.files}-file site, moto server at {result.endpoint} (S3 + CloudFront), staging prefix\n")
    header = f"{'tool':<12} {'run':<20} {'PutObject':>9} {'other S3':>8} {'invalidations':>13} {'wall time':>10}"
    print(header)
    print("-" * len(header))
    for tool, label, counts, timing in result.runs:
        wall = f"{timing['seconds']:.2f} s"
        print(f"{tool:<12} {label:<20} {counts.get('PutObject', 0):>9} {other_s3(counts):>8} "
              f"{counts.get('CreateInvalidation', 0):>13} {wall:>10}")
    print()
    for tool, (total, media, exact, cached) in result.headers.items():
        print(f"{tool:<12} right media type {media}/{total}, with charset=utf-8 on text {exact}/{total}, "
              f"Cache-Control {cached}/{total}")
    syncs = [r[3]["sync_seconds"] for r in result.runs if r[0] == "aws s3 sync"]
    if syncs:
        print(f"\naws s3 sync alone (without the invalidation command): {', '.join(f'{s:.2f} s' for s in syncs)}; "
              "awscli's wall time includes starting its Python process for each command.")


def rows(result: DeployResult, command: str = ".venv/bin/python bench/deploy_bench.py") -> list:
    """The benchmark table's rows (bench/common.Row): wall time and uploads against aws s3 sync."""
    from bench.common import Row

    table = []
    total, _, exact, cached = result.headers["opsbot"]
    right = exact == total and cached == total
    for label in LABELS:
        counts, timing = result.run_of("opsbot", label)
        theirs = result.run_of("aws s3 sync", label)
        puts = counts.get("PutObject", 0)
        figure = f"{timing['seconds']:.2f} s, {puts} PUT"
        if theirs is None:
            table.append(Row(f"deploy {result.files} files: {label}", figure, "aws s3 sync not run", None,
                             "for the record", None, command))
            continue
        their_counts, their_timing = theirs
        their_puts = their_counts.get("PutObject", 0)
        table.append(Row(f"deploy {result.files} files: {label}", figure,
                         f"aws s3 sync {their_timing['seconds']:.2f} s, {their_puts} PUT",
                         timing["seconds"] / their_timing["seconds"], "no more PUTs than aws s3 sync; headers right",
                         puts <= their_puts and right, command))
    return table


# -- one large file: memory -----------------------------------------------------------------------------------


def take_counts(endpoint: str) -> Counter[str]:
    """The requests moto served since the last call (and start counting again)."""
    request = urllib.request.Request(endpoint + "/__bench__/counts", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return Counter(json.loads(answer.read()))


def peak_rss_mib() -> float:
    """This process's own peak resident memory. Linux's VmHWM belongs to the address space, while
    ru_maxrss also counts the parent this process was forked from (its pages before exec)."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_child(spec: str) -> None:
    """In a fresh process: deploy the site twice to staging; print peak RSS, requests and times as JSON."""
    args = json.loads(spec)
    work, source = Path(args["work"]), Path(args["source"])
    deployer = opsbot_deployer(args["endpoint"], work, args["bucket"], args["distribution"], source)
    deployer.poll_interval = 0.2
    take_counts(args["endpoint"])
    runs = []
    for _ in range(2):
        result = run_opsbot(deployer)
        runs.append({**result, "counts": dict(take_counts(args["endpoint"]))})
    print(json.dumps({"peak_mib": peak_rss_mib(), "runs": runs}))


def rss_of_command(command: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MiB) of a command, measured by a small parent that waits for it (ru_maxrss: the
    larger of the command's own peak and the small parent's size when it started the command)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    answer = subprocess.run([sys.executable, "-c", code, *command], env=env, check=True, capture_output=True,
                            text=True)
    return int(answer.stdout.strip()) / 1024


@dataclass(frozen=True)
class BigResult:
    """Each child's answer, {"peak_mib", "runs": [{"seconds", "result", "counts"}, first and again]}, per round."""

    megabytes: int
    baselines: list[dict[str, Any]]  # the one-page site
    bigs: list[dict[str, Any]]  # the same with the large file
    awscli_peak_mib: float | None = None
    awscli_seconds: float | None = None

    @property
    def baseline(self) -> dict[str, Any]:
        return _median_child(self.baselines)

    @property
    def big(self) -> dict[str, Any]:
        return _median_child(self.bigs)


def _median_child(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median peak RSS (a fresh process's peak varies a little from run to run)."""
    return sorted(answers, key=lambda a: a["peak_mib"])[len(answers) // 2]


def write_big_file(path: Path, megabytes: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(1024 * 1024))


@aws_environment()
def run_big(megabytes: int = 200, aws: str | None = None, rounds: int = 3) -> BigResult:
    """A one-page site and the same site with one ``megabytes`` file, each deployed
    twice in a fresh process, the two taking turns for ``rounds`` rounds."""
    moto = MotoServer()
    work = Path(tempfile.mkdtemp(prefix="opsbot-bench-big-"))
    answers: dict[str, list[dict[str, Any]]] = {"baseline": [], "big": []}
    try:
        sources = {}
        for label in answers:
            source = work / label / "site"
            source.mkdir(parents=True)
            (source / "index.html").write_text("<!doctype html><title>Tour</title>")
            if label == "big":
                write_big_file(source / "media" / "tour.mp4", megabytes)
            sources[label] = source
        for _ in range(rounds):
            for label, source in sources.items():
                folder = work / label  # events.json and a fresh store beside the source
                for stale in folder.glob("opsbot.db*"):
                    stale.unlink()
                bucket = f"opsbot-{label}-{uuid.uuid4().hex[:8]}"
                distribution = make_bucket_and_distribution(moto.endpoint, bucket)
                spec = json.dumps({"endpoint": moto.endpoint, "work": str(folder), "source": str(source),
                                   "bucket": bucket, "distribution": distribution})
                answer = subprocess.run([sys.executable, __file__, "--big-child", spec],
                                        env={**os.environ, **AWS_ENV}, check=True, capture_output=True, text=True)
                answers[label].append(json.loads(answer.stdout.strip().splitlines()[-1]))
        aws_peak = aws_seconds = None
        if aws:
            bucket = f"awscli-big-{uuid.uuid4().hex[:8]}"
            make_bucket_and_distribution(moto.endpoint, bucket)
            started = time.perf_counter()
            aws_peak = rss_of_command([aws, "s3", "sync", str(sources["big"]), f"s3://{bucket}/_staging/",
                                       "--only-show-errors", "--endpoint-url", moto.endpoint],
                                      {**os.environ, **AWS_ENV})
            aws_seconds = time.perf_counter() - started
        return BigResult(megabytes, answers["baseline"], answers["big"], aws_peak, aws_seconds)
    finally:
        moto.close()
        shutil.rmtree(work, ignore_errors=True)


def uploads(counts: dict[str, int]) -> int:
    """Requests that send file bytes: single-part PUTs and multipart parts."""
    return counts.get("PutObject", 0) + counts.get("UploadPart", 0)


def report_big(result: BigResult) -> None:
    print(f"\none {result.megabytes} MB file, each deploy in a fresh process (peak RSS of that process; the median "
          f"of {len(result.bigs)} rounds)\n")
    for label, data in (("one-page site", result.baseline), (f"+ {result.megabytes} MB file", result.big)):
        first, again = data["runs"]
        print(f"{label:<18} peak RSS {data['peak_mib']:6.1f} MiB · first deploy {first['seconds']:.2f} s, "
              f"{uploads(first['counts'])} upload requests ({first['counts'].get('UploadPart', 0)} parts) · "
              f"unchanged re-deploy {again['seconds']:.2f} s, {uploads(again['counts'])} upload requests, "
              f"{again['result']}")
    if result.awscli_peak_mib is not None:
        print(f"{'aws s3 sync':<18} peak RSS {result.awscli_peak_mib:6.1f} MiB · {result.awscli_seconds:.2f} s")


def big_rows(result: BigResult, command: str = ".venv/bin/python bench/deploy_bench.py") -> list:
    """Peak RSS of the large-file deploy against the one-page deploy, and the unchanged re-deploy's uploads."""
    from bench.common import Row

    extra = result.big["peak_mib"] - result.baseline["peak_mib"]
    aws = (f"; aws s3 sync {result.awscli_peak_mib:.0f} MiB" if result.awscli_peak_mib is not None else "")
    first, again = result.big["runs"]
    return [
        Row(f"deploy one {result.megabytes} MB file: peak RSS", f"{result.big['peak_mib']:.0f} MiB (+{extra:.0f} MiB)",
            f"one-page deploy {result.baseline['peak_mib']:.0f} MiB{aws}",
            result.big["peak_mib"] / result.baseline["peak_mib"], "within 100 MiB of the one-page deploy",
            extra <= 100, command),
        Row(f"re-deploy the unchanged {result.megabytes} MB file", f"{again['seconds']:.2f} s, "
            f"{uploads(again['counts'])} upload requests", f"first deploy {first['seconds']:.2f} s, "
            f"{uploads(first['counts'])} upload requests", again["seconds"] / first["seconds"], "no upload",
            uploads(again["counts"]) == 0 and again["result"] == "up to date", command),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--big-mb", type=int, default=200, help="the large file's size (0: skip that part)")
    parser.add_argument("--serve-moto", help=argparse.SUPPRESS)
    parser.add_argument("--big-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_moto:
        serve_moto(args.serve_moto)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.big_child:
        big_child(args.big_child)
        return

    aws = find_aws()
    if aws is None:
        raise SystemExit("awscli is not installed: see the top of bench/deploy_bench.py for the pip command.")
    result = run(args.files, aws)
    report(result)
    table = rows(result)
    if args.big_mb:
        big = run_big(args.big_mb, aws)
        report_big(big)
        table += big_rows(big)
    from bench.common import print_table

    print_table(table)


if __name__ == "__main__":
    main()
