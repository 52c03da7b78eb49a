"""Reading a site's source folder for a deploy: which files are published, each
file's size and MD5 (streamed, and kept between scans while the file is
unchanged), and whether a file is still as scanned when its upload starts.
The rules (what is published, headers) are bot/core/deploy_plan.py's."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.deploy_plan import (
    STAGING_PREFIX,
    DeployError,
    LocalFile,
    UnsafeSource,
    cache_control,
    content_type,
    is_published,
    may_hold_published,
)
from bot.core.domain import NEVER_PUBLISHED_DIRS, NEVER_PUBLISHED_FILES, Site

_CHUNK = 1 << 20  # hashing reads 1 MiB at a time
HIDDEN_NAMED = 1000  # left-out dotfiles remembered for the preview; the rest are only counted


def file_md5(path: Path) -> str:
    """The file's MD5 (hex), read in chunks and never through a symbolic link."""
    digest = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Known:
    identity: tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns
    md5: str


class HashCache:
    """MD5s of files already hashed, kept while the file is unchanged (same inode,
    size, modification and change times: writing a file moves its change time,
    which no one can set back). A production preview and its confirmation, and
    a re-deploy of an unchanged site, hash nothing again."""

    def __init__(self, hasher: Callable[[Path], str] = file_md5):
        self.hasher = hasher
        self._known: dict[Path, _Known] = {}
        self._lock = threading.Lock()

    def md5(self, path: Path, info: os.stat_result) -> str:
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        with self._lock:
            known = self._known.get(path)
        if known is not None and known.identity == identity:
            return known.md5
        digest = self.hasher(path)
        with self._lock:
            self._known[path] = _Known(identity, digest)
        return digest

    def keep_only(self, root: Path, paths: set[Path]) -> None:
        """Forget files of ``root`` that the last scan did not see (memory stays the size of the sites)."""
        with self._lock:
            for path in [p for p in self._known if p.is_relative_to(root) and p not in paths]:
                del self._known[path]


@dataclass(frozen=True)
class Scan:
    files: tuple[LocalFile, ...]  # sorted by path
    hidden: tuple[str, ...] = ()  # dotfiles and dotfolders left out, the first HIDDEN_NAMED
    hidden_count: int = 0


def scan_source(site: Site, cache: HashCache | None = None) -> Scan:
    """Every file of ``site.source`` to publish, sorted by path. Refuses a source
    that no longer resolves to the folder checked at start-up (a symbolic link
    put on the way since), symbolic links inside it, anything that is not a
    regular file, and a ``_staging/`` folder (it would land on the staging copy).
    Dotfiles and dotfolders are left out unless the site lists them in ``include``. Refusals name
    the folder and file (blocks/deploy.py says them)."""
    root = site.source
    folder_name = str(root)
    if not root.exists() and not root.is_symlink():
        raise DeployError("source_missing", folder=folder_name)
    if root.is_symlink() or root.resolve() != root:
        raise UnsafeSource("source_linked", folder=folder_name)
    if not root.is_dir():
        raise DeployError("source_not_folder", folder=folder_name)
    cache = cache or HashCache()

    def refuse(rel: str, problem: str) -> UnsafeSource:
        return UnsafeSource("file_refused", folder=folder_name, rel=rel, problem=problem)

    files: list[LocalFile] = []
    hidden: list[str] = []
    hidden_count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        inside = folder.relative_to(root).as_posix()
        prefix = "" if inside == "." else inside + "/"
        kept = []
        for name in sorted(dirnames):
            rel = prefix + name
            if (folder / name).is_symlink():
                raise refuse(rel, _link_problem(folder / name, root))
            if may_hold_published(rel, site.include):
                kept.append(name)
            elif name.startswith(".") and name not in NEVER_PUBLISHED_DIRS:
                hidden_count += 1
                if len(hidden) < HIDDEN_NAMED:
                    hidden.append(rel + "/")
        dirnames[:] = kept
        for name in sorted(filenames):
            rel, path = prefix + name, folder / name
            if not is_published(rel, site.include):
                if name.startswith(".") and name not in NEVER_PUBLISHED_FILES:  # worth naming in the preview
                    hidden_count += 1
                    if len(hidden) < HIDDEN_NAMED:
                        hidden.append(rel)
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise refuse(rel, _link_problem(path, root))
            if not stat.S_ISREG(info.st_mode):
                raise refuse(rel, "not_regular")
            if rel.startswith(STAGING_PREFIX):
                raise refuse(rel, "staging")
            files.append(LocalFile(rel=rel, path=path, size=info.st_size, md5=cache.md5(path, info),
                                   content_type=content_type(rel), cache_control=cache_control(rel),
                                   mtime_ns=info.st_mtime_ns))
    cache.keep_only(root, {f.path for f in files})
    return Scan(tuple(sorted(files, key=lambda f: f.rel)), tuple(sorted(hidden)), hidden_count)


def _link_problem(path: Path, root: Path) -> str:
    return "link_inside" if path.resolve().is_relative_to(root) else "link_outside"


def still_as_scanned(file: LocalFile) -> bool:
    """The file is the regular file the scan hashed (same size and modification
    time, not replaced by a link): what its upload sends is what was compared."""
    try:
        info = file.path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == file.size and info.st_mtime_ns == file.mtime_ns
