"""Event sites on moto's server: a bucket and a CloudFront distribution per
test, a source folder in tmp_path, and an events.json that points at them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import EVENTS_FILE

REGION = "us-west-2"


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def create_bucket(endpoint: str, name: str) -> None:
    aws(endpoint, "s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def create_distribution(endpoint: str, bucket: str) -> str:
    config = {
        "CallerReference": uuid.uuid4().hex,
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "site", "DomainName": f"{bucket}.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""},
        }]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }
    return aws(endpoint, "cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@dataclass
class SiteOnMoto:
    endpoint: str
    id: str
    bucket: str
    distribution_id: str
    source: Path
    events_file: Path
    url: str = "https://gipsykings.queenofsandiego.com"

    def objects(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """key -> head_object answer, for every object under prefix."""
        s3 = aws(self.endpoint, "s3")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        return {k: s3.head_object(Bucket=self.bucket, Key=k) for k in keys}

    def listed(self, prefix: str = "") -> list[str]:
        return sorted(self.objects(prefix))

    def body(self, key: str) -> bytes:
        return aws(self.endpoint, "s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, body: bytes = b"old", content_type: str = "text/plain") -> None:
        aws(self.endpoint, "s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def invalidations(self) -> list[dict[str, Any]]:
        """Each invalidation's batch (Paths, CallerReference), oldest first."""
        cf = aws(self.endpoint, "cloudfront")
        listed = cf.list_invalidations(DistributionId=self.distribution_id)["InvalidationList"].get("Items", [])
        batches = [cf.get_invalidation(DistributionId=self.distribution_id, Id=i["Id"])["Invalidation"]
                   for i in listed]
        return [{"Id": b["Id"], "Paths": b["InvalidationBatch"]["Paths"].get("Items", []),
                 "CallerReference": b["InvalidationBatch"]["CallerReference"]} for b in batches]

    def env(self) -> dict[str, str]:
        """make_bot / make_settings overrides for this site."""
        return {"OPSBOT_EVENTS_FILE": str(self.events_file), "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION}


def site_on_moto(endpoint: str, root: Path, files: dict[str, str | bytes], *, site_id: str = "gipsykings",
                 distribution: str | None = None) -> SiteOnMoto:
    """A bucket, a distribution (unless ``distribution`` names another id) and
    ``root/events.json`` with the repository's events and this one site."""
    bucket = f"{site_id}-{uuid.uuid4().hex[:10]}"
    create_bucket(endpoint, bucket)
    dist = distribution or create_distribution(endpoint, bucket)
    source = root / "sites" / site_id
    source.mkdir(parents=True, exist_ok=True)
    write_files(source, files)
    data = json.loads(EVENTS_FILE.read_text())
    data["events"] = [{k: v for k, v in e.items() if k != "site"} for e in data["events"]]
    data["sites"] = [{"id": site_id, "bucket": bucket, "distributionId": dist, "source": f"sites/{site_id}",
                      "url": "https://gipsykings.queenofsandiego.com"}]
    events_file = root / "events.json"
    events_file.write_text(json.dumps(data))
    return SiteOnMoto(endpoint, site_id, bucket, dist, source, events_file)


SITE_FILES: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>Gipsy Kings</title>",
    "tickets/index.html": "<!doctype html><title>Tickets</title>",
    "assets/site.3f9a1c.css": "body{margin:0}",
    "assets/booking.js": "console.log('book')",
    "assets/wave.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "img/hero.webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "fonts/sail.woff2": b"wOF2\x00\x01",
    "events.json": '{"capacity": 75}',
}
