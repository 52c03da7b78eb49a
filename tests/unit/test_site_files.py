"""Reading a site's source folder (bot/core/site_files.py): what is published, the
refusals (links, odd files, a source turned into a link since start-up), and
the MD5s (streamed, hashed once while a file is unchanged). On tmp_path."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from blocks.deploy import refusal_text
from bot.core.deploy_plan import DEFAULT_CACHE, HTML_CACHE, IMMUTABLE_CACHE, DeployError, UnsafeSource
from bot.core.domain import Site
from bot.core.site_files import HashCache, file_md5, scan_source, still_as_scanned

MD5_A, MD5_B = "0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def site_at(root: Path, *include: str) -> Site:
    return Site(id="x", bucket="bucket", distribution_id="E1", source=root, url="https://x.example",
                include=tuple(include))


def test_scan_lists_files_with_md5_and_headers_and_leaves_dotfiles_out(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a", "assets/site.3f9a1c.css": "b", ".DS_Store": "x",
                                         ".git/config": "x", ".well-known/security.txt": "c", ".env": "SECRET=1",
                                         "assets/.htaccess": "deny", ".cache/a/b": "x"})
    scan = scan_source(site_at(root))
    assert [(f.rel, f.md5, f.size, f.content_type, f.cache_control) for f in scan.files] == [
        ("assets/site.3f9a1c.css", MD5_B, 1, "text/css; charset=utf-8", IMMUTABLE_CACHE),
        ("index.html", MD5_A, 1, "text/html; charset=utf-8", HTML_CACHE),
    ]
    # The litter (.DS_Store, .git) is never published and not worth naming; the rest is named in the preview.
    assert scan.hidden == (".cache/", ".env", ".well-known/", "assets/.htaccess") and scan.hidden_count == 4


def test_a_site_lists_the_dotfiles_it_publishes(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a", ".well-known/security.txt": "c",
                                         ".well-known/.git/config": "x", ".env": "SECRET=1"})
    scan = scan_source(site_at(root, ".well-known"))
    assert [(f.rel, f.cache_control) for f in scan.files] == [(".well-known/security.txt", DEFAULT_CACHE),
                                                              ("index.html", HTML_CACHE)]
    assert scan.hidden == (".env",)


def test_scan_refuses_symlinks_to_files_and_folders(tmp_path):
    outside = make_tree(tmp_path / "outside", {"secrets.env": "KEY=1"})
    root = make_tree(tmp_path / "site", {"index.html": "a"})
    os.symlink(outside, root / "linked")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site_at(root))
    assert refusal_text(refused.value) == (
        f"`linked` in `{root}` is a symbolic link (to a path outside the source folder): deploys never follow "
        "links; put the real file there. Nothing was deployed.")
    (root / "linked").unlink()
    os.symlink(root / "index.html", root / "copy.html")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site_at(root))
    assert re.search(r"`copy.html` in `.*` is a symbolic link \(to a path inside", refusal_text(refused.value))
    (root / "copy.html").unlink()
    os.mkfifo(root / "pipe.html")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site_at(root))
    assert re.search("`pipe.html` in `.*` is not a regular file", refusal_text(refused.value))


def test_a_source_reached_through_a_link_since_start_up_is_refused(tmp_path):
    real = make_tree(tmp_path / "real" / "site", {"index.html": "a"})
    site = site_at(real)
    os.rename(tmp_path / "real", tmp_path / "moved")
    os.symlink(tmp_path / "moved", tmp_path / "real")  # a folder on the way is now a link
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site)
    assert re.search("is now reached through a symbolic link", refusal_text(refused.value))
    with pytest.raises(DeployError) as refused:
        scan_source(site_at(tmp_path / "nothing"))
    assert re.search(f"The source folder `{tmp_path / 'nothing'}` does not exist", refusal_text(refused.value))


def test_a_staging_folder_in_the_source_is_refused(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a", "_staging/index.html": "b"})
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site_at(root))
    assert re.search("`_staging/index.html` in `.*` is under `_staging/`", refusal_text(refused.value))


def test_names_in_messages_are_escaped(tmp_path):
    root = make_tree(tmp_path / "site<b>", {"index.html": "a"})
    os.symlink(root / "index.html", root / "<!channel>.html")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(site_at(root))
    assert refusal_text(refused.value).startswith("`&lt;!channel&gt;.html` in `")
    assert "site&lt;b&gt;` is a symbolic link" in refusal_text(refused.value)


def test_each_file_is_hashed_once_while_it_is_unchanged(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a", "b.css": "b"})
    hashed: list[str] = []
    cache = HashCache(lambda path: hashed.append(path.name) or file_md5(path))
    first = scan_source(site_at(root), cache)
    again = scan_source(site_at(root), cache)
    assert first == again and sorted(hashed) == ["b.css", "index.html"]
    (root / "b.css").write_text("c")  # same size, new content
    rescanned = scan_source(site_at(root), cache)
    assert [f.md5 for f in rescanned.files][0] == "4a8a08f09d37b73795649038408b5f33"
    assert sorted(hashed) == ["b.css", "b.css", "index.html"]


def test_a_file_changed_after_the_scan_is_not_as_scanned(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a"})
    [file] = scan_source(site_at(root)).files
    assert still_as_scanned(file)
    os.utime(root / "index.html", ns=(1, 1))
    assert not still_as_scanned(file)
    assert not still_as_scanned(replace(file, path=root / "gone.html"))


def test_md5_is_streamed_and_never_follows_a_link(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    assert file_md5(big) == "290d47fd0d1114329f4020a0962b370a"
    os.symlink(big, tmp_path / "link.bin")
    with pytest.raises(OSError):
        file_md5(tmp_path / "link.bin")
