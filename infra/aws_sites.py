"""The Sites port on S3 and CloudFront (boto3).

Clients are made on first use; ``AWS_REGION`` and ``AWS_ENDPOINT_URL`` come
from the settings, credentials from boto3's usual chain (environment, profile,
role). Uploads stream from disk through boto3's managed transfer (one request
below ``multipart_threshold``, a multipart upload above it, memory bounded by
the part size and the transfer's threads). Every failure becomes a SitesError
that names the step."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.ports import ObjectHead, SiteObject, SitesError

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

MD5_METADATA = "md5"  # x-amz-meta-md5: the content MD5 (hex) of what we uploaded
MULTIPART_THRESHOLD = 16 * 1024 * 1024  # larger files go up in parts of MULTIPART_CHUNK
MULTIPART_CHUNK = 16 * 1024 * 1024
TRANSFER_THREADS = 8  # the managed transfer's threads, shared by every upload of the process
COPY_IN_ONE_MAX = 5 * 1024 ** 3  # CopyObject copies up to 5 GB; larger objects are copied in parts
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_VERSIONED_WRITES = ("PutObject", "CompleteMultipartUpload", "CopyObject")
_WRITTEN = "opsbot.written"  # request-context key: the (bucket, key) a write is for


def _session(given: Any) -> Any:
    from infra.aws_session import aws_session  # deferred for cold start: boto3 only once a deploy needs it

    return given or aws_session()


class AwsSites:
    def __init__(self, settings: Settings, *, session: Any = None):
        self.region = settings.aws_region
        self.endpoint_url = settings.aws_endpoint_url
        self.multipart_threshold = MULTIPART_THRESHOLD
        self.multipart_chunk = MULTIPART_CHUNK
        self._session = session
        self._clients: dict[str, Any] = {}
        self._transfer: Any = None
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], str | None] = {}  # (bucket, key) -> version id of our last write

    # -- clients -------------------------------------------------------------------------------
    def has_credentials(self) -> bool:
        with _failures("reading the AWS credentials"):  # e.g. AWS_PROFILE names a profile that is not there
            return _session(self._session).get_credentials() is not None

    def _client(self, name: str) -> Any:
        with self._lock:
            if name not in self._clients:
                from botocore.config import Config  # deferred for cold start, as _session

                client = _session(self._session).client(
                    name,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5,
                                  read_timeout=60, max_pool_connections=32),
                )
                if name == "s3":
                    self._note_versions(client)
                self._clients[name] = client
            return self._clients[name]

    def _note_versions(self, client: Any) -> None:
        """Keep the version id S3 gives each write. The managed transfer returns
        nothing, so the answer is read as it passes (PutObject's answer does not
        name its key: the request's own context carries it across)."""

        def remember_target(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context[_WRITTEN] = (params.get("Bucket"), params.get("Key"))

        def remember_version(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            if _WRITTEN in context and http_response is not None and http_response.status_code < 300:
                with self._lock:
                    self._versions[context[_WRITTEN]] = parsed.get("VersionId")

        for operation in _VERSIONED_WRITES:
            client.meta.events.register(f"provide-client-params.s3.{operation}", remember_target)
            client.meta.events.register(f"after-call.s3.{operation}", remember_version)

    def _written_version(self, bucket: str, key: str) -> str | None:
        with self._lock:
            return self._versions.pop((bucket, key), None)

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def cloudfront(self) -> Any:
        return self._client("cloudfront")

    def _transfers(self) -> Any:
        """One managed transfer for the process: its threads bound what every upload holds in memory."""
        s3 = self.s3
        with self._lock:
            if self._transfer is None:
                from boto3.s3.transfer import TransferConfig, create_transfer_manager  # deferred, as _session

                config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                        multipart_chunksize=self.multipart_chunk, max_concurrency=TRANSFER_THREADS,
                                        preferred_transfer_client="classic")
                self._transfer = create_transfer_manager(s3, config)
            return self._transfer

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

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
        try:
            with _failures(f"reading {where}"):
                answer = self.s3.head_object(**args)
        except SitesError as exc:
            if _is_client_error(exc.__cause__) and _status(exc.__cause__) in (404, 405):
                return None  # no such object or version (405: the version is a delete marker)
            raise
        return ObjectHead(size=int(answer.get("ContentLength", 0)), etag=str(answer.get("ETag", "")).strip('"'),
                          md5=answer.get("Metadata", {}).get(MD5_METADATA), version_id=answer.get("VersionId"))

    def versioning(self, bucket: str) -> str:
        with _failures(f"reading the versioning of s3://{bucket}"):
            return str(self.s3.get_bucket_versioning(Bucket=bucket).get("Status") or "")

    def upload(self, bucket: str, key: str, path: Path, *, content_type: str, cache_control: str,
               md5: str) -> str | None:
        step = f"uploading s3://{bucket}/{key}"
        extra = {"ContentType": content_type, "CacheControl": cache_control, "Metadata": {MD5_METADATA: md5}}
        with _failures(step):
            try:
                self._transfers().upload(str(path), bucket, key, extra_args=extra).result()
            except OSError as exc:
                raise SitesError(step, f"cannot read {path}: {exc.strerror or exc}") from None
        return self._written_version(bucket, key)

    def copy(self, bucket: str, source_key: str, key: str, *, size: int, version_id: str | None = None) -> str | None:
        source = {"Bucket": bucket, "Key": source_key, **({"VersionId": version_id} if version_id else {})}
        of = f" (version {version_id})" if version_id else ""
        with _failures(f"copying s3://{bucket}/{source_key}{of} to {key}"):
            if size < COPY_IN_ONE_MAX:
                answer = self.s3.copy_object(Bucket=bucket, Key=key, CopySource=source, MetadataDirective="COPY")
                self._written_version(bucket, key)
                return answer.get("VersionId")
            # In parts: the transfer reads the source's headers and metadata and sets them on the copy.
            self._transfers().copy(source, bucket, key).result()
        return self._written_version(bucket, key)

    def delete(self, bucket: str, keys: Sequence[str]) -> dict[str, str | None]:
        deleted: dict[str, str | None] = {}
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = list(keys[start:start + _DELETE_BATCH])
            step = f"deleting {len(batch)} object(s) from s3://{bucket}/"
            try:
                with _failures(step):
                    answer = self.s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": False})
            except SitesError as exc:
                raise SitesError(exc.step, exc.reason, done=deleted) from exc
            for item in answer.get("Deleted") or []:
                deleted[item["Key"]] = item.get("DeleteMarkerVersionId")
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise SitesError(step, f"{len(errors)} not deleted, e.g. {first.get('Key')}: "
                                       f"{first.get('Code')} {first.get('Message', '')}".rstrip(), done=deleted)
        return deleted

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


def _is_client_error(exc: BaseException | None) -> bool:
    # An exception from a client means botocore is loaded already: importing it here costs nothing.
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


class _failures:
    """Turn boto3's exceptions into a SitesError naming ``step``."""

    def __init__(self, step: str):
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        from botocore.exceptions import BotoCoreError, ClientError  # loaded by the call that failed (cold start)

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = error.get("Message") or ""
            raise SitesError(self.step, f"{code}: {message}" if message else str(code)) from exc
        if isinstance(exc, BotoCoreError):
            raise SitesError(self.step, str(exc)) from exc
        return False
