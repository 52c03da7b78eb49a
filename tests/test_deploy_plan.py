"""The deploy planner: headers, hashed names, the comparison with the bucket,
invalidation paths, and the source folder checks. Pure, apart from tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.deploy_plan import (
    DEFAULT_CACHE,
    HTML_CACHE,
    IMMUTABLE_CACHE,
    DeployError,
    LocalFile,
    UnsafeSource,
    cache_control,
    compare_files,
    compare_objects,
    content_type,
    file_md5,
    invalidation_paths,
    is_hashed,
    merge_paths,
    plan_promote,
    plan_sync,
    scan_source,
)
from bot.domain import Site
from bot.ports import SiteObject
from infra.aws_sites import AwsSites
from tests.deploy_sites import site_on_moto

SITE = Site(id="gipsykings", bucket="b", distribution_id="E1", source=Path("sites/gipsykings"),
            url="https://gipsykings.queenofsandiego.com")
MD5_A, MD5_B = "0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"


@pytest.mark.parametrize("name, expected", [
    ("index.html", "text/html; charset=utf-8"), ("a/site.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"), ("mod.mjs", "text/javascript; charset=utf-8"),
    ("wave.svg", "image/svg+xml"), ("hero.webp", "image/webp"), ("logo.png", "image/png"),
    ("photo.JPG", "image/jpeg"), ("anim.gif", "image/gif"), ("favicon.ico", "image/x-icon"),
    ("events.json", "application/json"), ("robots.txt", "text/plain; charset=utf-8"),
    ("sitemap.xml", "application/xml"), ("f.woff", "font/woff"), ("f.woff2", "font/woff2"),
    ("app.js.map", "application/json"), ("menu.pdf", "application/pdf"),
    ("site.webmanifest", "application/manifest+json"), ("clip.mp4", "video/mp4"),
    ("blob.unknownext", "application/octet-stream"), ("LICENSE", "application/octet-stream"),
])
def test_content_types(name, expected):
    assert content_type(name) == expected


@pytest.mark.parametrize("name, hashed", [
    ("site.3f9a1c.css", True), ("booking.7b2e4d.js", True), ("app-3f9a1c2b.js", True), ("app.3f9a1c.js.map", True),
    ("site.css", False), ("hero-1.jpg", False), ("report-20240101.pdf", False), ("site.facade.css", False),
    ("deadbeef", False), ("x.3f9a1.css", False),
])
def test_hashed_names(name, hashed):
    assert is_hashed(name) is hashed


def test_cache_control():
    assert cache_control("index.html") == HTML_CACHE == "public, max-age=60, must-revalidate"
    assert cache_control("page.3f9a1c.html") == HTML_CACHE  # a page is never immutable
    assert cache_control("assets/site.3f9a1c.css") == IMMUTABLE_CACHE == "public, max-age=31536000, immutable"
    assert cache_control("assets/booking.js") == DEFAULT_CACHE == "public, max-age=3600"


def test_invalidation_paths():
    assert invalidation_paths([], "") == []
    assert invalidation_paths(["index.html", "a b.css"], "") == ["/", "/a%20b.css", "/index.html"]
    assert invalidation_paths(["tickets/index.html"], "_staging/") == ["/_staging/tickets/",
                                                                         "/_staging/tickets/index.html"]
    assert invalidation_paths([f"p{i}.css" for i in range(15)], "") == sorted(f"/p{i}.css" for i in range(15))
    assert invalidation_paths([f"p{i}.css" for i in range(16)], "") == ["/*"]
    assert invalidation_paths([f"p{i}.css" for i in range(16)], "_staging/") == ["/_staging/*"]
    assert invalidation_paths([f"d{i}/index.html" for i in range(8)], "") == ["/*"]  # 16 paths
    assert merge_paths(["/a"], ["/*"], "") == ["/*"]
    assert merge_paths(["/a"], ["/b", "/a"], "") == ["/a", "/b"]


def local(rel: str, md5: str = MD5_A, size: int = 1) -> LocalFile:
    return LocalFile(rel=rel, path=Path(rel), size=size, md5=md5, content_type=content_type(rel),
                     cache_control=cache_control(rel))


def obj(key: str, etag: str = MD5_A, size: int = 1) -> SiteObject:
    return SiteObject(key=key, etag=etag, size=size)


def test_compare_files_uses_the_etag_then_the_stored_md5():
    asked: list[str] = []

    def stored(rel: str) -> str | None:
        asked.append(rel)
        return {"multi.css": MD5_A}.get(rel)

    files = [local("same.html"), local("new.css"), local("edited.js"), local("resized.js", size=2),
             local("multi.css"), local("kms.css")]
    remote = {"same.html": obj("same.html"), "edited.js": obj("edited.js", MD5_B), "resized.js": obj("resized.js"),
              "multi.css": obj("multi.css", "d41d8cd98f00b204e9800998ecf8427e-2"),
              "kms.css": obj("kms.css", MD5_B), "gone.html": obj("gone.html")}
    uploads, deletes, unchanged = compare_files(files, remote, stored)
    assert [f.rel for f in uploads] == ["new.css", "edited.js", "resized.js", "kms.css"]
    assert (deletes, unchanged) == (["gone.html"], 2)
    assert asked == ["edited.js", "multi.css", "kms.css"]  # only same-size objects whose ETag differs


def test_production_never_sees_staging_keys_even_if_listed():
    remote = [obj("index.html", MD5_B), obj("_staging/index.html"), obj("_staging/old.html"), obj("old.html")]
    plan = plan_sync(SITE, "production", [local("index.html")], remote, lambda key: None)
    assert [f.rel for f in plan.uploads] == ["index.html"]
    assert plan.deletes == ("old.html",)
    assert plan.paths == ("/", "/index.html", "/old.html")


def test_staging_plan_works_under_the_prefix_and_owes_earlier_paths():
    remote = [obj("_staging/index.html"), obj("_staging/old.css"), obj("index.html", MD5_B)]
    plan = plan_sync(SITE, "staging", [local("index.html")], remote, lambda key: None,
                     due_paths=["/_staging/x.css"])
    assert (plan.uploads, plan.deletes, plan.unchanged) == ((), ("old.css",), 1)
    assert plan.paths == ("/_staging/old.css", "/_staging/x.css")
    same = plan_sync(SITE, "staging", [local("index.html")], remote[:1], lambda key: None)
    assert same.up_to_date and same.paths == ()


def test_promote_plan():
    staged = [obj("_staging/index.html", MD5_B), obj("_staging/a.css"), obj("_staging/b.css", "x-2"),
              obj("_staging/new.js")]
    live = [obj("index.html"), obj("a.css"), obj("b.css", "y-2"), obj("old.js")]
    md5s = {"_staging/b.css": MD5_A, "b.css": MD5_A}
    plan = plan_promote(SITE, staged, live, md5s.get)
    assert (plan.copies, plan.deletes, plan.unchanged) == (("index.html", "new.js"), ("old.js",), 2)
    assert plan.paths == ("/", "/index.html", "/new.js", "/old.js")
    copies, deletes, unchanged = compare_objects({}, {"a": obj("a")}, md5s.get, md5s.get)
    assert (copies, deletes, unchanged) == ([], ["a"], 0)


def test_fingerprint_names_exactly_what_would_be_written():
    a = plan_sync(SITE, "production", [local("index.html")], [], lambda key: None)
    b = plan_sync(SITE, "production", [local("index.html", MD5_B)], [], lambda key: None)
    assert a.fingerprint() == plan_sync(SITE, "production", [local("index.html")], [], lambda k: None).fingerprint()
    assert a.fingerprint() != b.fingerprint()


# -- the source folder ---------------------------------------------------------------------------------------


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_scan_lists_files_with_md5_and_headers_and_skips_litter(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a", "assets/site.3f9a1c.css": "b", ".DS_Store": "x",
                                         ".git/config": "x", ".well-known/security.txt": "c"})
    files = scan_source(root)
    assert [(f.rel, f.md5, f.size, f.content_type, f.cache_control) for f in files] == [
        (".well-known/security.txt", file_md5(root / ".well-known/security.txt"), 1, "text/plain; charset=utf-8",
         DEFAULT_CACHE),
        ("assets/site.3f9a1c.css", "92eb5ffee6ae2fec3ad71c777531578f", 1, "text/css; charset=utf-8", IMMUTABLE_CACHE),
        ("index.html", MD5_A, 1, "text/html; charset=utf-8", HTML_CACHE),
    ]


def test_scan_refuses_symlinks_to_files_and_folders(tmp_path):
    outside = make_tree(tmp_path / "outside", {"secrets.env": "KEY=1"})
    root = make_tree(tmp_path / "site", {"index.html": "a"})
    os.symlink(outside, root / "linked")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(root, shown_as="sites/x")
    assert refused.value.message == (
        "`linked` in `sites/x` is a symbolic link (to a path outside the source folder): deploys never follow "
        "links; put the real file there. Nothing was deployed.")
    (root / "linked").unlink()
    os.symlink(root / "index.html", root / "copy.html")
    with pytest.raises(UnsafeSource, match=r"`copy.html` in `sites/x` is a symbolic link \(to a path inside"):
        scan_source(root, shown_as="sites/x")


def test_scan_refuses_a_linked_root_a_missing_folder_and_a_staging_folder(tmp_path):
    real = make_tree(tmp_path / "real", {"index.html": "a"})
    os.symlink(real, tmp_path / "link")
    with pytest.raises(UnsafeSource, match="The source folder `sites/x` is a symbolic link"):
        scan_source(tmp_path / "link", shown_as="sites/x")
    with pytest.raises(DeployError, match="The source folder `sites/y` does not exist"):
        scan_source(tmp_path / "nothing", shown_as="sites/y")
    make_tree(real, {"_staging/index.html": "b"})
    with pytest.raises(UnsafeSource, match="`_staging/index.html` in `sites/z` is under `_staging/`"):
        scan_source(real, shown_as="sites/z")


def test_names_in_messages_are_escaped(tmp_path):
    root = make_tree(tmp_path / "site", {"index.html": "a"})
    os.symlink(root / "index.html", root / "<!channel>.html")
    with pytest.raises(UnsafeSource) as refused:
        scan_source(root, shown_as="sites/<b>")
    assert refused.value.message.startswith("`&lt;!channel&gt;.html` in `sites/&lt;b&gt;` is a symbolic link")


# -- the adapter's listing -------------------------------------------------------------------------------------


def test_listing_for_production_never_reads_under_staging(tmp_path, moto_endpoint, make_settings):
    site = site_on_moto(moto_endpoint, tmp_path, {})
    for key in ("index.html", "a/b/c.css", "_staging/index.html", "_staging/x/y.js", "_stagingish.txt"):
        site.put(key)
    sites = AwsSites(make_settings(**site.env()))
    prefixes: list[str] = []
    sites.s3.meta.events.register("provide-client-params.s3.ListObjectsV2",
                                  lambda params, **kw: prefixes.append(params["Prefix"]))
    listed = sites.list_objects(site.bucket, "", skip_prefixes=("_staging/",))
    assert [o.key for o in listed] == ["_stagingish.txt", "a/b/c.css", "index.html"]
    assert prefixes == ["", "a/"] and all(len(o.etag) == 32 for o in listed)
    assert [o.key for o in sites.list_objects(site.bucket, "_staging/")] == ["_staging/index.html",
                                                                             "_staging/x/y.js"]
