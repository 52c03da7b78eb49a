"""What a site deploy will do: which files are published, their headers, the
keys S3 can take, the comparison with the bucket, the CloudFront paths to
refresh, and what a rollback puts back. Pure rules over plain data, no I/O:
bot/core/site_files.py reads the source folder, bot/core/deploy.py runs the plans.

Where a site lives in its bucket: production under the site's ``prefix`` (the
bucket root when it has none) except ``<prefix>_staging/``, staging under
``<prefix>_staging/``. A plan only ever names keys in its target's area."""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

from bot.core.domain import NEVER_PUBLISHED_DIRS, NEVER_PUBLISHED_FILES, Site
from bot.core.ports import SiteObject

STAGING_PREFIX = "_staging/"
TARGETS = ("staging", "production", "promote", "rollback")
CONFIRMED_TARGETS = ("production", "promote", "rollback")  # previewed, and written only once an admin confirms
WILDCARD_AFTER = 15  # more changed paths than this: one wildcard invalidation instead
KEY_MAX_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes

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
    """A deploy that cannot go ahead. ``reason`` says why and ``facts`` hold what
    the refusal names (a site, a folder, a file, who decided); blocks/deploy.py's
    ``refusal_text`` puts them into words. Reasons:

    - "too_many_words", "unknown_request", "being_handled", "no_slack"
    - "unknown_site" (ref, sites), "not_a_target" (word), "site_gone" (site), "nothing_staged" (site)
    - "sites_error" / "cannot_post" (error: what AWS or Slack said)
    - "expired" (site, target), "already_decided" (decision, who), "not_allowed" (refusal)
    - "busy" (site: DeployBusy)
    - "source_missing", "source_not_folder", "source_linked", "nothing_to_publish" (folder)
    - "file_refused" (folder, rel, problem: link_inside, link_outside, not_regular, staging)
    Subclasses carry richer facts (BadNames, RollbackRefused)."""

    def __init__(self, reason: str, **facts: Any):
        super().__init__(reason, *facts.values())
        self.reason, self.facts = reason, facts
        self.summary: str | None = None  # a subclass's short note for the deploy record (else its words)


class UnsafeSource(DeployError):
    """The source folder holds something a deploy must not follow or publish."""


@dataclass(frozen=True)
class BadName:
    rel: str  # the path inside the source (may hold undecodable bytes as surrogates)
    problem: str  # "utf-8", "control", "length"
    detail: int = 0  # the control character's code point, or the key's length in bytes


class BadNames(DeployError):
    """Files whose keys S3 would refuse: nothing is uploaded until they are renamed."""

    def __init__(self, names: Sequence[BadName]):
        super().__init__("bad_names", count=len(names))
        self.names = tuple(names)
        self.summary = f"{len(names)} file name(s) S3 cannot take"


class RollbackRefused(DeployError):
    """A rollback that cannot be made. ``reason``: "versioning" (the bucket keeps
    no earlier versions; ``status`` is its versioning), "nothing" (no production
    deploy changed anything), "unrecorded" (``deploy`` changed production without
    its earlier versions recorded), "too_far" (the deploy to go back to is older
    than the history read), "moved" (``deploy`` was made for another bucket or
    prefix), "changed" (production changed since; ``keys``), "gone" (earlier
    versions no longer in the bucket; ``keys``)."""

    def __init__(self, reason: str, *, deploy: Mapping[str, object] | None = None, keys: Sequence[str] = (),
                 status: str = ""):
        super().__init__("rollback_refused", why=reason)
        self.summary = f"rollback refused: {reason}"
        self.reason, self.deploy, self.keys, self.status = reason, dict(deploy or {}), tuple(keys), status


# -- what is published and with which headers ------------------------------------------------------------------


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


def listed_in(rel: str, include: Sequence[str]) -> bool:
    """``rel`` is a path a site's ``include`` names, or lies inside one."""
    return any(rel == entry or rel.startswith(entry + "/") for entry in include)


def is_published(rel: str, include: Sequence[str] = ()) -> bool:
    """A file at ``rel`` in the source is published unless a part of its path is
    a dotfile or dotfolder the site does not list, or litter that is never published."""
    parts = rel.split("/")
    if parts[-1] in NEVER_PUBLISHED_FILES or any(p in NEVER_PUBLISHED_DIRS for p in parts[:-1]):
        return False
    return not any(p.startswith(".") for p in parts) or listed_in(rel, include)


def may_hold_published(folder: str, include: Sequence[str] = ()) -> bool:
    """Whether a scan goes into the folder at ``folder``: not for a dotfolder
    unless ``include`` lists it, something inside it, or a folder around it."""
    parts = folder.split("/")
    if any(p in NEVER_PUBLISHED_DIRS for p in parts):
        return False
    if not any(p.startswith(".") for p in parts):
        return True
    return listed_in(folder, include) or any(entry.startswith(folder + "/") for entry in include)


def key_problem(key: str) -> BadName | None:
    """Why S3 would refuse ``key`` (as a BadName without its path), or None."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:  # a name that was not UTF-8 on disk (kept as surrogates)
        return BadName("", "utf-8")
    control = next((c for c in key if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        return BadName("", "control", ord(control))
    if size > KEY_MAX_BYTES:
        return BadName("", "length", size)
    return None


def check_keys(rels: Iterable[str], area: str) -> None:
    """Raise BadNames naming every file whose key (``area`` + path) S3 would refuse."""
    bad = []
    for rel in rels:
        problem = key_problem(area + rel)
        if problem is not None:
            bad.append(BadName(rel, problem.problem, problem.detail))
    if bad:
        raise BadNames(bad)


@dataclass(frozen=True)
class LocalFile:
    rel: str  # the path inside the source folder, with / separators: the key under the target's area
    path: Path
    size: int
    md5: str  # hex
    content_type: str
    cache_control: str
    mtime_ns: int = 0  # as scanned: a file changed since is not uploaded


# -- where a target writes, and the CloudFront paths -----------------------------------------------------------


def area(site: Site, target: str) -> str:
    """The key prefix a target writes under: staging ``<prefix>_staging/``, the others ``<prefix>``."""
    return site.prefix + STAGING_PREFIX if target == "staging" else site.prefix


def in_area(site: Site, target: str, key: str) -> bool:
    """Whether ``key`` is the target's to write or delete (production never touches staging)."""
    if target == "staging":
        return key.startswith(site.prefix + STAGING_PREFIX)
    return key.startswith(site.prefix) and not key.startswith(site.prefix + STAGING_PREFIX)


def viewer_base(site: Site, target: str) -> str:
    """The CloudFront path of the target's root: the path of the site's URL (``/``
    for a site at the root of its domain), then ``_staging/`` for staging. A site
    with a prefix is served either by its own distribution whose origin path is
    the prefix (URL without a path) or under that path of a shared one."""
    path = urlparse(site.url).path.strip("/")
    base = f"/{path}/" if path else "/"
    return base + STAGING_PREFIX if target == "staging" else base


def invalidation_paths(changed: Iterable[str], base: str) -> list[str]:
    """CloudFront paths for the changed files (paths inside the target's area):
    each file, and for an ``index.html`` its folder too. More than
    WILDCARD_AFTER paths become one wildcard for ``base``."""
    paths: set[str] = set()
    for rel in changed:
        paths.add(base + quote(rel))
        if PurePosixPath(rel).name == "index.html":
            paths.add(base + quote(rel[: -len("index.html")]))
    if len(paths) > WILDCARD_AFTER:
        return [base + "*"]
    return sorted(paths)


def merge_paths(paths: Iterable[str], more: Iterable[str], base: str) -> list[str]:
    """Two sets of invalidation paths as one, with the same wildcard rule."""
    merged = set(paths) | set(more)
    wildcard = base + "*"
    if wildcard in merged or len(merged) > WILDCARD_AFTER:
        return [wildcard]
    return sorted(merged)


# -- comparing with the bucket ----------------------------------------------------------------------------------


def _plain_md5(etag: str) -> str | None:
    """The ETag when it is a content MD5 (a single-part upload), else None."""
    return etag.lower() if re.fullmatch(r"[0-9a-fA-F]{32}", etag) else None


def compare_files(local: Sequence[LocalFile], remote: Mapping[str, SiteObject],
                  stored_md5: Callable[[str], str | None]) -> tuple[list[LocalFile], list[str], int]:
    """(files to upload, paths to delete, unchanged count). ``remote`` maps a
    path inside the target's area to its object; ``stored_md5(path)`` reads the
    MD5 we kept in the object's metadata, asked only when the ETag differs and
    the size matches (a multipart or encrypted upload, whose ETag is no MD5)."""
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


@dataclass(frozen=True)
class Copy:
    """A server-side copy into the target's area: promote copies from staging, a
    rollback copies an earlier version of the same key."""

    rel: str  # where to, inside the target's area
    source_key: str
    size: int
    etag: str = ""
    version_id: str | None = None  # the source's version (a rollback's earlier version)


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


# -- plans ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one deploy does. Paths in uploads, copies and deletes are inside the
    target's area (``area(site, target)``)."""

    site: Site
    target: str  # staging | production | promote | rollback
    uploads: tuple[LocalFile, ...] = ()
    copies: tuple[Copy, ...] = ()
    deletes: tuple[str, ...] = ()
    unchanged: int = 0
    paths: tuple[str, ...] = ()  # CloudFront paths to invalidate
    dry_run: bool = False  # made without reading the bucket (no credentials)
    hidden: tuple[str, ...] = ()  # dotfiles and dotfolders of the source left out (not listed in "include")
    replaced: frozenset[str] = frozenset()  # changed paths that hold an object now (their versions are kept)
    undoes: tuple[str, ...] = ()  # a rollback: the deploys it undoes, oldest first
    restores: Mapping[str, object] | None = None  # a rollback: the deploy whose state it puts back (None: the first)

    @property
    def area(self) -> str:
        return area(self.site, self.target)

    def key(self, rel: str) -> str:
        return self.area + rel

    @property
    def writes(self) -> int:
        return len(self.uploads) + len(self.copies) + len(self.deletes)

    @property
    def up_to_date(self) -> bool:
        return self.writes == 0 and not self.paths

    def changed_keys(self) -> list[str]:
        """Every key this plan writes or deletes."""
        return [self.key(r) for r in (*(f.rel for f in self.uploads), *(c.rel for c in self.copies), *self.deletes)]

    def fingerprint(self) -> str:
        """Identifies exactly what would be written: a confirmed preview runs only
        if planning again gives the same fingerprint."""
        digest = hashlib.sha256(f"{self.target} {self.area} {' '.join(self.undoes)}".encode("utf-8", "surrogatepass"))
        for file in self.uploads:
            digest.update(f"\nput {file.rel} {file.md5}".encode("utf-8", "surrogatepass"))
        for copy in self.copies:
            digest.update(f"\ncopy {copy.rel} {copy.source_key} {copy.etag} {copy.version_id}".encode())
        for rel in self.deletes:
            digest.update(f"\ndelete {rel}".encode())
        return digest.hexdigest()[:32]


def _paths(site: Site, target: str, changed: Sequence[str], due_paths: Iterable[str]) -> list[str]:
    base = viewer_base(site, target)
    due = list(due_paths)
    return merge_paths(invalidation_paths(changed, base), due, base) if changed or due else []


def plan_sync(site: Site, target: str, local: Sequence[LocalFile], remote: Sequence[SiteObject],
              stored_md5: Callable[[str], str | None], *, due_paths: Iterable[str] = (),
              hidden: Sequence[str] = ()) -> Plan:
    """A staging or production sync. ``remote`` is the listing of the target's
    area (full keys); ``stored_md5(key)`` reads an object's kept MD5;
    ``due_paths`` are invalidations an earlier deploy owes. Raises BadNames
    before anything else when a file's key is one S3 would refuse."""
    where = area(site, target)
    check_keys((f.rel for f in local), where)
    by_rel = {obj.key[len(where):]: obj for obj in remote if in_area(site, target, obj.key)}
    uploads, deletes, unchanged = compare_files(local, by_rel, lambda rel: stored_md5(where + rel))
    paths = _paths(site, target, [f.rel for f in uploads] + deletes, due_paths)
    replaced = frozenset(f.rel for f in uploads if f.rel in by_rel) | frozenset(deletes)
    return Plan(site=site, target=target, uploads=tuple(uploads), deletes=tuple(deletes), unchanged=unchanged,
                paths=tuple(paths), hidden=tuple(hidden), replaced=replaced)


def plan_promote(site: Site, staged: Sequence[SiteObject], live: Sequence[SiteObject],
                 stored_md5: Callable[[str], str | None], *, due_paths: Iterable[str] = ()) -> Plan:
    """Production made equal to what is staged: ``staged`` lists the staging
    area, ``live`` the production area (full keys)."""
    staging, production = area(site, "staging"), area(site, "promote")
    staged_by_rel = {o.key[len(staging):]: o for o in staged if in_area(site, "staging", o.key)}
    live_by_rel = {o.key[len(production):]: o for o in live if in_area(site, "promote", o.key)}
    copies, deletes, unchanged = compare_objects(
        staged_by_rel, live_by_rel, lambda rel: stored_md5(staging + rel), lambda rel: stored_md5(production + rel))
    paths = _paths(site, "promote", copies + deletes, due_paths)
    return Plan(site=site, target="promote", deletes=tuple(deletes), unchanged=unchanged, paths=tuple(paths),
                copies=tuple(Copy(rel, staging + rel, staged_by_rel[rel].size, staged_by_rel[rel].etag)
                             for rel in copies),
                replaced=frozenset(rel for rel in copies if rel in live_by_rel) | frozenset(deletes))


def plan_dry_run(site: Site, target: str, local: Sequence[LocalFile], *, hidden: Sequence[str] = ()) -> Plan:
    """Without credentials the bucket cannot be read: every file would be uploaded."""
    check_keys((f.rel for f in local), area(site, target))
    return Plan(site=site, target=target, uploads=tuple(local), dry_run=True, hidden=tuple(hidden),
                paths=tuple(invalidation_paths([f.rel for f in local], viewer_base(site, target))))


# -- rollback ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One key a production deploy wrote or deleted: the version that was live
    before it (None: no object) and the one it left (None: deleted);
    ``left_known`` is False when the deploy stopped before recording it."""

    key: str
    before: str | None
    after: str | None = None
    left_known: bool = True


def rollback_scope(history: Sequence[Mapping[str, object]], *, complete: bool
                   ) -> tuple[Mapping[str, object] | None, list[Mapping[str, object]]]:
    """Which production state a rollback puts back, and which deploys it undoes.

    ``history`` is a site's deploy records, newest first (``complete``: all of
    them). Only deploys that changed production count. A rollback goes back to
    the deploy that finished before the newest finished one, undoing every
    change since (failed attempts included); when the newest change failed it
    goes back to the newest finished one (undoing the failure); when the newest
    change is a rollback that failed, it finishes that rollback. Returns (that
    deploy's record, or None for "as before the first recorded deploy"; the
    records to undo, oldest first)."""
    changes = [r for r in history if r.get("target") in CONFIRMED_TARGETS and int(r.get("changes") or 0) > 0]
    if not changes:
        raise RollbackRefused("nothing")
    newest = changes[0]
    finished = [i for i, r in enumerate(changes) if r.get("result") == "deployed"]
    if newest.get("result") != "deployed" and newest.get("target") == "rollback":
        goal = str(newest.get("restores") or "")
        found = [i for i, r in enumerate(changes) if goal and r.get("deploy_id") == goal]
        stop = found[0] if found else None
        if goal and stop is None:
            raise RollbackRefused("too_far", deploy=newest)
    else:
        earlier = [i for i in finished if i > 0] if newest.get("result") == "deployed" else finished
        stop = earlier[0] if earlier else None
    if stop is None and not complete:
        raise RollbackRefused("too_far", deploy=newest)
    undo = changes[:stop] if stop is not None else changes
    for record in undo:
        if not record.get("versioned"):
            raise RollbackRefused("unrecorded", deploy=record)
    return (changes[stop] if stop is not None else None), list(reversed(undo))


def merge_changes(per_deploy: Sequence[Sequence[Change]]) -> list[Change]:
    """The changes of several deploys (oldest first) as one: each key's version
    before the first of them, and what the last to touch it left."""
    merged: dict[str, Change] = {}
    for changes in per_deploy:
        for change in changes:
            first = merged.get(change.key)
            merged[change.key] = Change(change.key, first.before if first else change.before, change.after,
                                        change.left_known)
    return [merged[key] for key in sorted(merged)]


def plan_rollback(site: Site, restores: Mapping[str, object] | None, undo: Sequence[Mapping[str, object]],
                  changes: Sequence[Change], current: Mapping[str, str | None],
                  earlier: Mapping[tuple[str, str], SiteObject], *, due_paths: Iterable[str] = ()) -> Plan:
    """Production put back as ``restores`` (a deploy record; None: as before the
    first) left it, undoing the deploys ``undo`` whose ``changes`` are merged:
    each key's earlier version copied back, or the key deleted when it had none.
    ``current`` is each key's live version now (None: no object), ``earlier``
    the earlier versions still in the bucket. Refuses when a key changed since
    the deploys left it, or an earlier version is gone."""
    where = area(site, "rollback")
    for record in undo:
        if record.get("bucket", site.bucket) != site.bucket or record.get("prefix", site.prefix) != site.prefix:
            raise RollbackRefused("moved", deploy=record)
    if any(not in_area(site, "rollback", c.key) for c in changes):
        raise RollbackRefused("moved", deploy=undo[-1] if undo else None)
    changed = sorted(c.key for c in changes if c.left_known and current.get(c.key) != c.after)
    if changed:
        raise RollbackRefused("changed", deploy=undo[-1] if undo else None, keys=changed)
    gone = sorted(c.key for c in changes if c.before is not None and c.before != current.get(c.key)
                  and (c.key, c.before) not in earlier)
    if gone:
        raise RollbackRefused("gone", deploy=undo[-1] if undo else None, keys=gone)
    copies, deletes = [], []
    for change in changes:
        rel, now = change.key[len(where):], current.get(change.key)
        if change.before == now:
            continue  # already as it was (a key a stopped deploy never reached)
        if change.before is None:
            deletes.append(rel)
        else:
            old = earlier[(change.key, change.before)]
            copies.append(Copy(rel, change.key, old.size, old.etag, change.before))
    paths = _paths(site, "rollback", [c.rel for c in copies] + deletes, due_paths)
    return Plan(site=site, target="rollback", copies=tuple(copies), deletes=tuple(deletes),
                unchanged=len(changes) - len(copies) - len(deletes), paths=tuple(paths),
                replaced=frozenset(rel for rel in [c.rel for c in copies] + deletes
                                   if current.get(where + rel) is not None),
                undoes=tuple(str(r.get("deploy_id", "")) for r in undo), restores=restores)


# -- a deploy as it runs ----------------------------------------------------------------------------------------


@dataclass
class DeployRun:
    """A deploy as it goes: what the progress message and the audit line show,
    and what it changed (for the history and a later rollback)."""

    deploy_id: str
    site: Site
    target: str  # staging | production | promote | rollback
    by: str  # who started it (for a confirmed target: who confirmed it)
    started_at: datetime
    requested_by: str | None = None  # a confirmed target: who asked for it, when not the confirmer
    phase: str = "planning"  # planning uploading copying deleting invalidating done up_to_date failed refused
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
    refusal: DeployError | None = None  # why a refused deploy was refused
    duration: float | None = None  # seconds, once finished
    versioned: bool = False  # the bucket keeps earlier versions (a rollback can undo this deploy)
    before: dict[str, str | None] = field(default_factory=dict)  # key -> version live before the first write
    after: dict[str, str | None] = field(default_factory=dict)  # key -> version written (None: deleted)
    notes: list[str] = field(default_factory=list)

    @property
    def area(self) -> str:
        return area(self.site, self.target)

    @property
    def result(self) -> str:
        return {"done": "deployed", "up_to_date": "up to date", "failed": "failed"}.get(self.phase, self.phase)

    @property
    def writes_production(self) -> bool:
        return self.target != "staging"

    @property
    def url(self) -> str:
        base = self.site.url.rstrip("/") + "/"
        return base + STAGING_PREFIX if self.target == "staging" else base
