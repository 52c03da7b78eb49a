"""Lambda's first request imports nothing it does not need: neither boto3 nor s3transfer (about
20 ms of the cold start: they are for S3 and CloudFront, imported only once a deploy runs), nor
the modules of the services and listeners few requests use (loaded at their first use).
Each check runs in a fresh interpreter, as a Lambda container starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from bench.coldstart_bench import _SETTINGS
from bench.common import AWS_ENV
from infra.dynamo_store import DynamoStore
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import REPO, SIGNING_SECRET

REPORT_AWS_MODULES = (
    "import json, sys\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 's3transfer'))))\n"
)


def run_child(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env}, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    return child


def test_import_and_build_lambda_bot_on_dynamodb_import_no_boto3():
    code = "import bot.entrypoints.aws_lambda\n" + _SETTINGS + "bot.entrypoints.aws_lambda.build_lambda_bot(settings)\n"
    child = run_child(code + REPORT_AWS_MODULES, AWS_ENV)
    assert json.loads(child.stdout.splitlines()[-1]) == []
    # The check can fail: the bench's bare Bolt app with boto3's DynamoDB client imports both.
    boto3_client = "import boto3\nboto3.client('dynamodb', region_name='us-west-2')\n"
    imported = json.loads(run_child(boto3_client + REPORT_AWS_MODULES, AWS_ENV).stdout.splitlines()[-1])
    assert "boto3" in imported and "s3transfer" in imported


def test_a_first_payment_on_lambda_imports_no_boto3(opsbot_env, moto_endpoint, slack_api):
    """A one-liner payment, the first request of a container: written to DynamoDB (moto), acked with
    the receipt, and the deliverer rung through the Lambda client the request makes (moto has no such
    function: the ring is refused and logged, the minute schedule would deliver)."""
    table = f"opsbot-{uuid.uuid4().hex[:10]}"
    DynamoStore(table, region="us-west-2", endpoint_url=moto_endpoint).init_schema()
    env = {**opsbot_env, "OPSBOT_STORE": f"dynamodb://{table}", "AWS_REGION": "us-west-2",
           "AWS_LAMBDA_FUNCTION_NAME": "opsbot-imports"}
    body = slash_command_body("/log-payment", "jada 500 venmo Ana Ruiz")
    event = {
        "version": "2.0", "rawPath": "/slack/events", "rawQueryString": "", "body": body, "isBase64Encoded": False,
        "headers": {"host": "abc.lambda-url.us-west-2.on.aws", **signed_headers(body, SIGNING_SECRET)},
        "requestContext": {"http": {"method": "POST", "path": "/slack/events", "sourceIp": "203.0.113.9"}},
    }
    code = (
        "import json, sys\n"
        "from types import SimpleNamespace\n"
        "import bot.entrypoints.aws_lambda as aws_lambda\n"
        "from bot.config import load_settings\n"
        "env, event = json.loads(sys.stdin.read())\n"
        "bot = aws_lambda.build_lambda_bot(load_settings(environ=env, env_file=None))\n"
        "context = SimpleNamespace(function_name='opsbot-imports', "
        "invoked_function_arn='arn:aws:lambda:us-west-2:123456789012:function:opsbot-imports')\n"
        "print(json.dumps(aws_lambda.handle(bot, event, context)))\n"
    )
    # botocore sends every client to AWS_ENDPOINT_URL (moto on 127.0.0.1), the Lambda client too.
    child = subprocess.run([sys.executable, "-c", code + REPORT_AWS_MODULES], cwd=REPO, timeout=120, text=True,
                           input=json.dumps([env, event]), capture_output=True,
                           env={**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint})
    assert child.returncode == 0, child.stderr
    answer_line, modules_line = child.stdout.splitlines()[-2:]
    answer = json.loads(answer_line)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["text"].startswith("Recorded: $500.00 (venmo) from Ana Ruiz")
    # Lambda's log lines go to stdout: the ring reached moto's Lambda, which has no such function.
    assert "could not invoke opsbot-imports" in child.stdout and "ResourceNotFoundException" in child.stdout
    assert json.loads(modules_line) == []


FIRST_USE_MODULES = ("bot.core.deploy", "bot.core.deploy_plan", "bot.core.site_files", "bot.core.records",
                     "bot.core.paylinks", "bot.core.refunds", "bot.core.stripe_intake", "bot.core.links",
                     "bot.core.home", "bot.core.summary", "bot.core.deliverer", "bot.core.health",
                     "blocks.announcements", "blocks.deploy", "blocks.home", "handlers.commands.deploy",
                     "handlers.commands.opsbot", "handlers.events.home", "bot.entrypoints.web_api",
                     "bot.entrypoints.stripe_webhook", "stripe")


def report_loaded(names: tuple[str, ...]) -> str:
    return f"import json, sys\nprint(json.dumps(sorted(m for m in {names!r} if m in sys.modules)))\n"


def test_a_first_payment_loads_none_of_the_deployer_stripe_exports_home_or_outbox_delivery():
    """What the bench counts as Lambda's first request (bench/coldstart_bench.py): the build, and the
    modules the first /log-payment's listener imports when it first runs. The services and listeners
    few requests need are loaded the first time one is asked for, and not before."""
    code = ("import bot.entrypoints.aws_lambda\n" + _SETTINGS
            + "bot = bot.entrypoints.aws_lambda.build_lambda_bot(settings)\nimport handlers.commands.log_payment\n")
    assert json.loads(run_child(code + report_loaded(FIRST_USE_MODULES), AWS_ENV).stdout.splitlines()[-1]) == []
    # The check can fail: asking for the deployer, the web routes and the deliverer loads theirs.
    later = "bot.services.deploys\nbot.wsgi\nbot.deliverer\n"
    loaded = json.loads(run_child(code + later + report_loaded(FIRST_USE_MODULES), AWS_ENV).stdout.splitlines()[-1])
    assert {"bot.core.deploy", "bot.core.deploy_plan", "bot.entrypoints.web_api", "bot.core.deliverer",
            "blocks.announcements"} <= set(loaded)
