"""The Mailer port on Amazon SES (API v2): one MIME message, plain text + HTML.

botocore's own retries are off here: the email service retries with its own
backoff, so one failed attempt is one ``MailError`` and the count of tries is
the service's to decide."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from bot.core.ports import MailError, OutgoingEmail

# SES answers these when trying again cannot help: the sender or an address is
# refused, the account cannot send. Everything else (throttling, 5xx, network) may pass later.
PERMANENT_ERRORS = frozenset({
    "MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException", "SendingPausedException",
    "BadRequestException", "NotFoundException", "InvalidParameterValue", "AccessDeniedException", "AccessDenied",
    "UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch",
})


def mime_message(sender: str, recipients: Sequence[str], email: OutgoingEmail) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(domain="opsbot")
    # Quoted-printable keeps the message 7-bit clean (money lines have "·", names have accents).
    message.set_content(email.text, cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", cte="quoted-printable")
    return message.as_bytes()


class SesMailer:
    def __init__(self, region: str | None = None, endpoint_url: str | None = None):
        self.region = region
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from botocore.config import Config

                from infra.aws_session import aws_client  # deferred for cold start: botocore once an email goes

                self._client = aws_client("sesv2", region_name=self.region, endpoint_url=self.endpoint_url,
                                          config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                                        connect_timeout=5, read_timeout=30))
            return self._client

    def send(self, sender: str, recipients: Sequence[str], email: OutgoingEmail) -> str:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

        try:
            answer = self.client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": list(recipients)},
                Content={"Raw": {"Data": mime_message(sender, recipients, email)}},
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
            reason = f"SES refused it: {error.get('Message') or code} ({code})"
            raise MailError(reason, retryable=code not in PERMANENT_ERRORS) from exc
        except ReadTimeoutError as exc:  # sent, but no answer: SES may have taken it
            raise MailError(f"SES did not answer in time: {exc}", retryable=True, maybe_sent=True) from exc
        except (ConnectionError, HTTPClientError) as exc:  # unreachable, timed out: may pass later
            raise MailError(f"SES could not be reached: {exc}", retryable=True) from exc
        except BotoCoreError as exc:  # no credentials, no region, ...: a set-up problem
            raise MailError(f"SES cannot be used: {exc}", retryable=False) from exc
        return str(answer["MessageId"])
