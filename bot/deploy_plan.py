"""What a site deploy will do: the files, their headers, the comparison with the
bucket and the CloudFront paths to refresh. Pure rules over plain data (the
only I/O is reading the source folder); bot/deploy.py runs the plans."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from blocks.mrkdwn import escape
from bot.domain import Site
from bot.ports import SiteObject

STAGING_PREFIX = "_staging/"
TARGETS = ("staging", "production", "promote")
WILDCARD_AFTER = 15  # more changed paths than this: one wildcard invalidation instead

# Never deployed: operating-system litter and version-control folders.
SKIPPED_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
SKIPPED_DIRS = frozenset({".git", ".svn", ".hg"})

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "htm": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "webp": "image/webp",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "ico": "image/x-icon",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "xml": "application/xml",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "map": "application/json",
    "pdf": "application/pdf",
    "webmanifest": "application/manifest+json",
}
FALLBACK_CONTENT_TYPE = "application/octet-stream"

HTML_CACHE = "public, max-age=60, must-revalidate"  # pages: a new deploy shows within a minute
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"  # hashed names never change content
DEFAULT_CACHE = "public, max-age=3600"  # everything else: an hour

# A content hash in the name: `site.3f9a1c.css`, `booking-7b2e4d90.js`, `app.3f9a1c.js.map`:
# 6 to 64 hex digits with at least one digit and one letter (so `facade` or `2024` is not a hash).
_HASHED = re.compile(r"[.-](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,64}(\.[A-Za-z0-9]+)+$")


class DeployError(Exception):
    """A deploy that cannot go ahead; the message (Slack mrkdwn, user text
    escaped) says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsafeSource(DeployError):
    """The source folder holds something a deploy must not follow or publish."""


def content_type(name: str) -> str:
    ext = PurePosixPath(name).suffix.lower().lstrip(".")
    if ext in CONTENT_TYPES:
        return CONTENT_TYPES[ext]
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or FALLBACK_CONTENT_TYPE


def is_hashed(name: str) -> bool:
    return bool(_HASHED.search(PurePosixPath(name).name))


def cache_control(name: str) -> str:
    ext = PurePosixPath(name).suffix.lower()
    if ext in (".html", ".htm"):
        return HTML_CACHE
    if is_hashed(name):
        return IMMUTABLE_CACHE
    return DEFAULT_CACHE


@dataclass(frozen=True)
class LocalFile:
    rel: str  # the path inside the source folder, with / separators: the key under the target prefix
    path: Path
    size: int
    md5: str  # hex
    content_type: str
    cache_control: str


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_source(root: Path, *, shown_as: str | None = None) -> list[LocalFile]:
    """Every file to publish from ``root``, sorted by path. Refuses symbolic
    links (files or folders), anything that is not a regular file, any path
    that resolves outside the folder, and a ``_staging/`` folder (it would land
    on the staging copy). ``shown_as`` is how messages name the folder."""
    label = escape(shown_as or str(root))
    if root.is_symlink():
        raise UnsafeSource(f"The source folder `{label}` is a symbolic link: deploys never follow links. "
                           "Point `source` in events.json at the real folder.")
    if not root.is_dir():
        raise DeployError(f"The source folder `{label}` does not exist. Check `source` in events.json.")
    real_root = root.resolve()

    def refuse(path: Path, problem: str) -> UnsafeSource:
        rel = path.relative_to(root).as_posix()
        return UnsafeSource(f"`{escape(rel)}` in `{label}` {problem}. Nothing was deployed.")

    files: list[LocalFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        for name in dirnames:
            if (folder / name).is_symlink():
                raise refuse(folder / name, _link_problem(folder / name, real_root))
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = folder / name
            if name in SKIPPED_FILES:
                continue
            if path.is_symlink():
                raise refuse(path, _link_problem(path, real_root))
            if not path.is_file():
                raise refuse(path, "is not a regular file")
            real = path.resolve()
            if not real.is_relative_to(real_root):
                raise refuse(path, "resolves to a path outside the source folder")
            rel = real.relative_to(real_root).as_posix()
            if rel.startswith(STAGING_PREFIX):
                raise refuse(path, f"is under `{STAGING_PREFIX}`, which is where staging deploys go: rename the "
                                   "folder")
            files.append(LocalFile(rel=rel, path=path, size=path.stat().st_size, md5=file_md5(path),
                                   content_type=content_type(rel), cache_control=cache_control(rel)))
    return sorted(files, key=lambda f: f.rel)


def _link_problem(path: Path, real_root: Path) -> str:
    target = path.resolve()
    where = "inside" if target.is_relative_to(real_root) else "outside"
    return (f"is a symbolic link (to a path {where} the source folder): deploys never follow links; "
            "put the real file there")


def _plain_md5(etag: str) -> str | None:
    """The ETag when it is a content MD5 (a single-part upload), else None."""
    return etag.lower() if re.fullmatch(r"[0-9a-fA-F]{32}", etag) else None


def compare_files(local: Sequence[LocalFile], remote: Mapping[str, SiteObject],
                  stored_md5: Callable[[str], str | None]) -> tuple[list[LocalFile], list[str], int]:
    """(files to upload, paths to delete, unchanged count). ``remote`` maps a
    path under the target prefix to its object; ``stored_md5(path)`` reads the
    MD5 we kept in the object's metadata, asked only when the ETag differs and
    the size matches (a multipart or encrypted upload whose ETag is no MD5)."""
    uploads, unchanged = [], 0
    for file in local:
        obj = remote.get(file.rel)
        if obj is None or obj.size != file.size:
            uploads.append(file)
        elif _plain_md5(obj.etag) == file.md5 or stored_md5(file.rel) == file.md5:
            unchanged += 1
        else:
            uploads.append(file)
    present = {f.rel for f in local}
    deletes = sorted(rel for rel in remote if rel not in present)
    return uploads, deletes, unchanged


def compare_objects(staged: Mapping[str, SiteObject], live: Mapping[str, SiteObject],
                    staged_md5: Callable[[str], str | None], live_md5: Callable[[str], str | None]
                    ) -> tuple[list[str], list[str], int]:
    """For a promote: (paths to copy from staging, live paths to delete, unchanged count)."""
    copies, unchanged = [], 0
    for rel, obj in sorted(staged.items()):
        current = live.get(rel)
        if current is None or current.size != obj.size:
            copies.append(rel)
        elif current.etag == obj.etag:
            unchanged += 1
        else:
            mine = live_md5(rel)
            if mine is not None and mine == staged_md5(rel):
                unchanged += 1
            else:
                copies.append(rel)
    deletes = sorted(rel for rel in live if rel not in staged)
    return copies, deletes, unchanged


def invalidation_paths(changed: Iterable[str], prefix: str) -> list[str]:
    """CloudFront paths for the changed files (paths under ``prefix``): each
    file, and for an ``index.html`` its folder too (``/`` or ``/dir/``). More
    than WILDCARD_AFTER paths become one wildcard for the prefix."""
    paths: set[str] = set()
    for rel in changed:
        key = prefix + rel
        paths.add("/" + quote(key))
        if PurePosixPath(rel).name == "index.html":
            paths.add("/" + quote(key[: -len("index.html")]))
    if len(paths) > WILDCARD_AFTER:
        return ["/" + quote(prefix) + "*"]
    return sorted(paths)


def merge_paths(paths: Iterable[str], more: Iterable[str], prefix: str) -> list[str]:
    """Two sets of invalidation paths as one, with the same wildcard rule."""
    merged = set(paths) | set(more)
    wildcard = "/" + quote(prefix) + "*"
    if wildcard in merged or len(merged) > WILDCARD_AFTER:
        return [wildcard]
    return sorted(merged)


def prefix_for(target: str) -> str:
    return STAGING_PREFIX if target == "staging" else ""


@dataclass(frozen=True)
class Plan:
    """What one deploy does. Paths in uploads/copies/deletes are relative to the
    target prefix (``_staging/`` for staging, the bucket root otherwise)."""

    site: Site
    target: str  # staging | production | promote
    uploads: tuple[LocalFile, ...] = ()
    copies: tuple[str, ...] = ()  # promote: copied from _staging/ to the root
    deletes: tuple[str, ...] = ()
    unchanged: int = 0
    paths: tuple[str, ...] = ()  # CloudFront paths to invalidate
    dry_run: bool = False  # made without reading the bucket (no credentials)

    @property
    def prefix(self) -> str:
        return prefix_for(self.target)

    @property
    def writes(self) -> int:
        return len(self.uploads) + len(self.copies) + len(self.deletes)

    @property
    def up_to_date(self) -> bool:
        return self.writes == 0 and not self.paths

    def fingerprint(self) -> str:
        """Identifies exactly what would be written: a confirmed preview runs only
        if planning again gives the same fingerprint."""
        digest = hashlib.sha256(self.target.encode())
        for file in self.uploads:
            digest.update(f"\nput {file.rel} {file.md5}".encode())
        for rel in self.copies:
            digest.update(f"\ncopy {rel}".encode())
        for rel in self.deletes:
            digest.update(f"\ndelete {rel}".encode())
        return digest.hexdigest()[:32]


def plan_sync(site: Site, target: str, local: Sequence[LocalFile], remote: Sequence[SiteObject],
              stored_md5: Callable[[str], str | None], *, due_paths: Iterable[str] = ()) -> Plan:
    """A staging or production sync: ``remote`` is the listing under the target
    prefix (keys with the prefix); ``due_paths`` are invalidations owed by an
    earlier deploy that failed before making them."""
    prefix = prefix_for(target)
    # Production never touches _staging/, even if a listing were to include it.
    by_rel = {obj.key[len(prefix):]: obj for obj in remote
              if obj.key.startswith(prefix) and (prefix or not obj.key.startswith(STAGING_PREFIX))}
    uploads, deletes, unchanged = compare_files(local, by_rel, lambda rel: stored_md5(prefix + rel))
    changed = [f.rel for f in uploads] + deletes
    paths = merge_paths(invalidation_paths(changed, prefix), due_paths, prefix) if changed or due_paths else []
    return Plan(site=site, target=target, uploads=tuple(uploads), deletes=tuple(deletes), unchanged=unchanged,
                paths=tuple(paths))


def plan_promote(site: Site, staged: Sequence[SiteObject], live: Sequence[SiteObject],
                 stored_md5: Callable[[str], str | None], *, due_paths: Iterable[str] = ()) -> Plan:
    """Production made equal to what is in ``_staging/``; ``live`` must not hold
    ``_staging/`` keys (they are never listed for production)."""
    staged_by_rel = {o.key[len(STAGING_PREFIX):]: o for o in staged if o.key.startswith(STAGING_PREFIX)}
    live_by_rel = {o.key: o for o in live if not o.key.startswith(STAGING_PREFIX)}
    copies, deletes, unchanged = compare_objects(
        staged_by_rel, live_by_rel, lambda rel: stored_md5(STAGING_PREFIX + rel), stored_md5)
    changed = copies + deletes
    paths = merge_paths(invalidation_paths(changed, ""), due_paths, "") if changed or due_paths else []
    return Plan(site=site, target="promote", copies=tuple(copies), deletes=tuple(deletes), unchanged=unchanged,
                paths=tuple(paths))


def plan_dry_run(site: Site, target: str, local: Sequence[LocalFile]) -> Plan:
    """Without credentials the bucket cannot be read: every file would be uploaded."""
    prefix = prefix_for(target)
    return Plan(site=site, target=target, uploads=tuple(local),
                paths=tuple(invalidation_paths([f.rel for f in local], prefix)), dry_run=True)


@dataclass
class DeployRun:
    """A deploy as it goes: what the progress message and the audit line show."""

    deploy_id: str
    site: Site
    target: str  # staging | production | promote
    by: str  # who started it (for production: who confirmed it)
    started_at: datetime
    requested_by: str | None = None  # production: who asked for it, when not the confirmer
    phase: str = "planning"  # planning uploading copying deleting invalidating done up_to_date failed
    plan: Plan | None = None
    uploaded: int = 0
    copied: int = 0
    deleted: int = 0
    invalidation_id: str | None = None
    invalidation_completed: bool = False
    invalidation_note: str | None = None  # e.g. why its status could not be read
    waited: float = 0.0  # seconds spent waiting for the invalidation
    failed_step: str | None = None
    error: str | None = None
    duration: float | None = None  # seconds, once finished
    notes: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return prefix_for(self.target)

    @property
    def result(self) -> str:
        return {"done": "deployed", "up_to_date": "up to date", "failed": "failed"}.get(self.phase, self.phase)

    @property
    def url(self) -> str:
        base = self.site.url.rstrip("/") + "/"
        return base + STAGING_PREFIX if self.target == "staging" else base
