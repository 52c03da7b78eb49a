"""Faults injected in front of moto's server, at the HTTP level, so the real
boto3 clients (and their retry logic) meet them exactly as they would meet
AWS's: throttling, a cancelled transaction, a 5xx, an access denial.

The layer is a WSGI middleware, inert until a test arms it: ``arm(match,
answer, times=N)`` makes the next N requests that ``match`` get ``answer``
instead of reaching moto. Arm with the exact count a test needs; ``disarm()``
(done by the ``aws_faults`` fixture after each test) drops what is left, so
tests that share the session's moto server never see another test's faults.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DYNAMODB_TARGET = "DynamoDB_20120810."
_DYNAMO_TYPE = "com.amazonaws.dynamodb.v20120810#"


@dataclass(frozen=True)
class AwsRequest:
    """What a matcher sees of a request."""

    method: str
    path: str
    target: str  # the X-Amz-Target header (JSON protocols: DynamoDB_20120810.PutItem), or ""
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Fault:
    match: Callable[[AwsRequest], bool]
    answer: Answer
    left: int
    fired: int = 0


@dataclass
class AwsFaults:
    """The fault layer; ``wrap(app)`` puts it in front of a WSGI app."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _faults: list[_Fault] = field(default_factory=list)
    seen: list[AwsRequest] = field(default_factory=list)  # every request while recording is on
    recording: bool = False

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def layer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self._faults and not self.recording:  # inert: not even the body is touched
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            request = AwsRequest(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                                 environ.get("HTTP_X_AMZ_TARGET", ""), body)
            answer = self._take(request)
            if answer is None:
                return app(environ, start_response)
            start_response(f"{answer.status} Injected", [
                ("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body))),
                ("x-amzn-RequestId", "injected-fault"), *answer.headers])
            return [answer.body]

        return layer

    def _take(self, request: AwsRequest) -> Answer | None:
        with self._lock:
            if self.recording:
                self.seen.append(request)
            for fault in self._faults:
                if fault.left > 0 and fault.match(request):
                    fault.left -= 1
                    fault.fired += 1
                    return fault.answer
        return None

    # -- arming ----------------------------------------------------------------------------------------
    def arm(self, match: Callable[[AwsRequest], bool], answer: Answer, *, times: int) -> _Fault:
        """The next ``times`` requests that ``match`` get ``answer``. Returns the
        fault, whose ``.fired`` counts the requests it answered."""
        fault = _Fault(match, answer, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def disarm(self) -> None:
        with self._lock:
            self._faults.clear()
            self.seen.clear()
            self.recording = False

    def record(self) -> None:
        """Keep every request from now on (in ``seen``), to count what reached AWS."""
        with self._lock:
            self.seen.clear()
            self.recording = True

    def requests(self, match: Callable[[AwsRequest], bool]) -> list[AwsRequest]:
        with self._lock:
            return [r for r in self.seen if match(r)]


# -- matchers ---------------------------------------------------------------------------------------------


def dynamodb(operation: str, table: str | None = None) -> Callable[[AwsRequest], bool]:
    """A DynamoDB call (``TransactWriteItems``, ``PutItem``, ...), optionally on one table."""

    def match(request: AwsRequest) -> bool:
        if request.target != DYNAMODB_TARGET + operation:
            return False
        if table is None:
            return True
        data = request.json()
        if data.get("TableName") == table or table in (data.get("RequestItems") or {}):
            return True
        items = data.get("TransactItems") or []
        return any(table == next(iter(item.values()), {}).get("TableName") for item in items)

    return match


def cloudfront_invalidation(distribution_id: str) -> Callable[[AwsRequest], bool]:
    """CreateInvalidation on one distribution (REST: POST /2020-05-31/distribution/ID/invalidation)."""

    def match(request: AwsRequest) -> bool:
        return request.method == "POST" and request.path.endswith(f"/distribution/{distribution_id}/invalidation")

    return match


def s3_put(bucket: str) -> Callable[[AwsRequest], bool]:
    """PutObject into a bucket (path-style addressing, as boto3 uses against a custom endpoint)."""

    def match(request: AwsRequest) -> bool:
        return request.method == "PUT" and request.path.startswith(f"/{bucket}/")

    return match


# -- answers, shaped as AWS sends them ------------------------------------------------------------------------


def dynamodb_error(code: str, message: str, **extra: Any) -> Answer:
    body = {"__type": _DYNAMO_TYPE + code, "message": message, **extra}
    return Answer(400, json.dumps(body).encode(), "application/x-amz-json-1.0")


def throttled() -> Answer:
    return dynamodb_error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your "
        "provisioning level with the UpdateTable API.")


def transaction_conflict(items: int, conflicting: int = 0) -> Answer:
    """TransactWriteItems cancelled because another transaction was writing item ``conflicting``."""
    reasons = [{"Code": "None"} for _ in range(items)]
    reasons[conflicting] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    codes = ", ".join(r["Code"] for r in reasons)
    body = {"__type": _DYNAMO_TYPE + "TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
            "CancellationReasons": reasons}
    return Answer(400, json.dumps(body).encode(), "application/x-amz-json-1.0")


def rest_xml_error(status: int, code: str, message: str, *, kind: str = "Sender") -> Answer:
    """An error of a REST-XML service (CloudFront's shape)."""
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
            f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>injected-fault</RequestId></ErrorResponse>")
    return Answer(status, body.encode(), "text/xml")
