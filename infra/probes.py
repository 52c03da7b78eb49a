"""Cheap, read-only calls that tell whether a service answers as configured
(for ``opsbot doctor``). Each returns what it learnt or raises ProbeError with
the service's own error code; none writes anything anywhere."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

TIMEOUT = 10  # seconds, per call


class ProbeError(Exception):
    """The service refused or could not be reached. ``code`` is its error code
    (``invalid_auth``, ``NoSuchBucket``, ``401``, …) or ``unreachable``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# -- Slack ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackIdentity:
    team: str
    team_id: str
    user: str
    user_id: str
    scopes: frozenset[str] | None  # from the x-oauth-scopes header; None when Slack did not send it


def _slack_call(token: str, base_url: str, method: str, **params: Any) -> Any:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    client = WebClient(token=token, base_url=base_url, timeout=TIMEOUT)
    try:
        return getattr(client, method)(**params)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or exc.response.status_code)
        raise ProbeError(code, f"Slack answered {code}") from None
    except (SlackClientError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ProbeError("unreachable", f"cannot reach {base_url} ({reason})") from None


def slack_identity(token: str, base_url: str) -> SlackIdentity:
    """``auth.test``: who the token is, and the scopes it was granted."""
    resp = _slack_call(token, base_url, "auth_test")
    headers = {str(k).lower(): v for k, v in (resp.headers or {}).items()}
    raw = headers.get("x-oauth-scopes")
    if isinstance(raw, list):
        raw = ",".join(raw)
    scopes = frozenset(s.strip() for s in raw.split(",") if s.strip()) if raw is not None else None
    return SlackIdentity(team=str(resp.get("team", "")), team_id=str(resp.get("team_id", "")),
                         user=str(resp.get("user", "")), user_id=str(resp.get("user_id", "")), scopes=scopes)


def slack_channel(token: str, base_url: str, channel: str) -> dict[str, Any]:
    """``conversations.info``: the channel as the bot sees it (``is_member``, ``name``, …)."""
    resp = _slack_call(token, base_url, "conversations_info", channel=channel)
    return dict(resp.get("channel") or {})


def slack_socket_mode(app_token: str, base_url: str) -> None:
    """``apps.connections.open`` with the app-level token: Slack hands out a
    WebSocket URL (which is not opened here) only to a valid token with connections:write."""
    _slack_call(app_token, base_url, "apps_connections_open", app_token=app_token)


# -- AWS ------------------------------------------------------------------------------------------


def _aws_client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    from botocore.config import Config

    from infra.aws_session import aws_session  # deferred as boto3 was: only `opsbot doctor` probes AWS

    session = aws_session()
    return session.client(service, region_name=region or session.region_name or "us-east-1",
                          endpoint_url=endpoint_url,
                          config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                        read_timeout=TIMEOUT))


def aws_has_credentials() -> bool:
    import boto3

    return boto3.session.Session().get_credentials() is not None


def _aws_call(what: str, call: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "error")
        raise ProbeError(code, f"{what}: {error.get('Message') or code}") from None
    except BotoCoreError as exc:
        raise ProbeError("unreachable", f"{what}: {exc}") from None


def aws_identity(region: str | None, endpoint_url: str | None) -> dict[str, str]:
    """``sts:GetCallerIdentity``: the account and ARN the credentials belong to."""
    sts = _aws_client("sts", region, endpoint_url)
    answer = _aws_call("sts:GetCallerIdentity", sts.get_caller_identity)
    return {"account": str(answer.get("Account", "")), "arn": str(answer.get("Arn", ""))}


def s3_bucket(bucket: str, region: str | None, endpoint_url: str | None) -> None:
    """``s3:HeadBucket``: the bucket exists and these credentials may use it."""
    s3 = _aws_client("s3", region, endpoint_url)
    _aws_call(f"s3:HeadBucket {bucket}", lambda: s3.head_bucket(Bucket=bucket))


def s3_versioning(bucket: str, region: str | None, endpoint_url: str | None) -> str:
    """``s3:GetBucketVersioning``: ``Enabled``, ``Suspended`` or "" (never turned on)."""
    s3 = _aws_client("s3", region, endpoint_url)
    answer = _aws_call(f"s3:GetBucketVersioning {bucket}", lambda: s3.get_bucket_versioning(Bucket=bucket))
    return str(answer.get("Status") or "")


def cloudfront_distribution(distribution_id: str, region: str | None, endpoint_url: str | None) -> dict[str, str]:
    """``cloudfront:GetDistribution``: its domain and status (Deployed / InProgress)."""
    cloudfront = _aws_client("cloudfront", region, endpoint_url)
    answer = _aws_call(f"cloudfront:GetDistribution {distribution_id}",
                       lambda: cloudfront.get_distribution(Id=distribution_id))
    dist = answer.get("Distribution", {})
    return {"domain": str(dist.get("DomainName", "")), "status": str(dist.get("Status", "")),
            "enabled": str(dist.get("DistributionConfig", {}).get("Enabled", ""))}


def ses_sender(address: str, region: str | None, endpoint_url: str | None) -> dict[str, str]:
    """``ses:GetEmailIdentity`` for the address, then for its domain: which identity
    covers the sender and whether SES lets it send. ProbeError NotFoundException when neither is an identity."""
    ses = _aws_client("sesv2", region, endpoint_url)
    domain = address.rpartition("@")[2]
    for identity in (address, domain):
        try:
            answer = _aws_call(f"sesv2:GetEmailIdentity {identity}",
                               lambda identity=identity: ses.get_email_identity(EmailIdentity=identity))
        except ProbeError as exc:
            if exc.code == "NotFoundException":
                continue
            raise
        # VerificationStatus is SUCCESS | PENDING | FAILED | TEMPORARY_FAILURE | NOT_STARTED.
        verification = str(answer.get("VerificationStatus") or "not verified")
        verified = answer.get("VerifiedForSendingStatus") or verification == "SUCCESS"
        status = "verified" if verified else verification.lower().replace("_", " ")
        return {"identity": identity, "status": status, "region": ses.meta.region_name}
    raise ProbeError("NotFoundException", f"neither {address} nor {domain} is an SES identity in "
                                          f"{ses.meta.region_name}")


# -- Stripe -------------------------------------------------------------------------------------------


def stripe_key(api_key: str, api_base: str) -> None:
    """List at most one payment link (reads nothing else, writes nothing):
    Stripe answers 401 to a key it does not know."""
    request = urllib.request.Request(f"{api_base}/v1/payment_links?limit=1",
                                     headers={"Authorization": f"Bearer {api_key}"}, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310 - the configured API base
            resp.read()
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read().decode("utf-8", "replace")).get("error", {}).get("message", "")
        except (json.JSONDecodeError, AttributeError):
            message = ""
        raise ProbeError(str(exc.code), message or f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ProbeError("unreachable", f"cannot reach {api_base} ({reason})") from None
