"""The Sites port on S3 and CloudFront (boto3).

Clients are made on first use; ``AWS_REGION`` and ``AWS_ENDPOINT_URL`` come
from the settings, credentials from boto3's usual chain (environment, profile,
role). Every failure becomes a SitesError that names the step."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.config import Settings
from bot.ports import SiteObject, SitesError

MD5_METADATA = "md5"  # x-amz-meta-md5: the content MD5 (hex) of what we uploaded
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class AwsSites:
    def __init__(self, settings: Settings, *, session: Any = None):
        self.region = settings.aws_region
        self.endpoint_url = settings.aws_endpoint_url
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- clients -------------------------------------------------------------------------------
    def has_credentials(self) -> bool:
        with _failures("reading the AWS credentials"):  # e.g. AWS_PROFILE names a profile that is not there
            session = self._session or boto3.session.Session()
            return session.get_credentials() is not None

    def _client(self, name: str) -> Any:
        with self._lock:
            if name not in self._clients:
                session = self._session or boto3.session.Session()
                self._clients[name] = session.client(
                    name,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5,
                                  read_timeout=60, max_pool_connections=32),
                )
            return self._clients[name]

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def cloudfront(self) -> Any:
        return self._client("cloudfront")

    # -- S3 ------------------------------------------------------------------------------------------
    def list_objects(self, bucket: str, prefix: str, *, skip_prefixes: Sequence[str] = ()) -> list[SiteObject]:
        with _failures(f"listing s3://{bucket}/{prefix}"):
            if not skip_prefixes:
                return self._list(bucket, prefix, None)
            return sorted(self._walk(bucket, prefix, tuple(skip_prefixes)), key=lambda o: o.key)

    def _walk(self, bucket: str, prefix: str, skip: tuple[str, ...]) -> list[SiteObject]:
        # One level with a delimiter, then each folder: a skipped folder is never
        # listed, a folder holding one is walked the same way, others are listed whole.
        folders: list[str] = []
        found = self._list(bucket, prefix, "/", folders)
        for folder in folders:
            if folder.startswith(skip):
                continue
            if any(s.startswith(folder) for s in skip):
                found.extend(self._walk(bucket, folder, skip))
            else:
                found.extend(self._list(bucket, folder, None))
        return found

    def _list(self, bucket: str, prefix: str, delimiter: str | None,
              folders: list[str] | None = None) -> list[SiteObject]:
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            args["Delimiter"] = delimiter
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                found.append(SiteObject(key=item["Key"], etag=item["ETag"].strip('"'), size=int(item["Size"])))
            if folders is not None:
                folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return found

    def stored_md5(self, bucket: str, key: str) -> str | None:
        with _failures(f"reading s3://{bucket}/{key}"):
            head = self.s3.head_object(Bucket=bucket, Key=key)
        return head.get("Metadata", {}).get(MD5_METADATA)

    def upload(self, bucket: str, key: str, path: Path, *, content_type: str, cache_control: str,
               md5: str) -> None:
        step = f"uploading s3://{bucket}/{key}"
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise SitesError(step, f"cannot read {path}: {exc.strerror}") from None
        with _failures(step):
            self.s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache_control,
                ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode("ascii"), Metadata={MD5_METADATA: md5},
            )

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        with _failures(f"copying s3://{bucket}/{source_key} to {key}"):
            self.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key},
                                MetadataDirective="COPY")

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = list(keys[start:start + _DELETE_BATCH])
            step = f"deleting {len(batch)} object(s) from s3://{bucket}/"
            with _failures(step):
                answer = self.s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise SitesError(step, f"{len(errors)} not deleted, e.g. {first.get('Key')}: "
                                       f"{first.get('Code')} {first.get('Message', '')}".rstrip())

    # -- CloudFront ---------------------------------------------------------------------------------
    def create_invalidation(self, distribution_id: str, paths: Sequence[str], caller_reference: str) -> str:
        with _failures(f"creating the invalidation on {distribution_id}"):
            answer = self.cloudfront.create_invalidation(
                DistributionId=distribution_id,
                InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": list(paths)},
                                   "CallerReference": caller_reference},
            )
        return str(answer["Invalidation"]["Id"])

    def get_invalidation_status(self, distribution_id: str, invalidation_id: str) -> str:
        with _failures(f"reading invalidation {invalidation_id} on {distribution_id}"):
            answer = self.cloudfront.get_invalidation(DistributionId=distribution_id, Id=invalidation_id)
        return str(answer["Invalidation"]["Status"])


class _failures:
    """Turn boto3's exceptions into a SitesError naming ``step``."""

    def __init__(self, step: str):
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = error.get("Message") or ""
            raise SitesError(self.step, f"{code}: {message}" if message else str(code)) from exc
        if isinstance(exc, BotoCoreError):
            raise SitesError(self.step, str(exc)) from exc
        return False
