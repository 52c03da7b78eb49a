"""The deploy planner (bot/core/deploy_plan.py): headers, hashed names, what is
published, the keys S3 can take, the comparison with the bucket, invalidation
paths, rollbacks; and the source folder scan (bot/core/site_files.py, on tmp_path)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.deploy_plan import (
    DEFAULT_CACHE,
    HTML_CACHE,
    IMMUTABLE_CACHE,
    BadName,
    BadNames,
    Change,
    LocalFile,
    RollbackRefused,
    area,
    cache_control,
    compare_files,
    compare_objects,
    content_type,
    in_area,
    invalidation_paths,
    is_hashed,
    is_published,
    key_problem,
    may_hold_published,
    merge_changes,
    merge_paths,
    plan_promote,
    plan_rollback,
    plan_sync,
    rollback_scope,
    viewer_base,
)
from bot.core.domain import Site
from bot.core.ports import SiteObject

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
    assert invalidation_paths([], "/") == []
    assert invalidation_paths(["index.html", "a b.css"], "/") == ["/", "/a%20b.css", "/index.html"]
    assert invalidation_paths(["tickets/index.html"], "/_staging/") == ["/_staging/tickets/",
                                                                          "/_staging/tickets/index.html"]
    assert invalidation_paths([f"p{i}.css" for i in range(15)], "/") == sorted(f"/p{i}.css" for i in range(15))
    assert invalidation_paths([f"p{i}.css" for i in range(16)], "/") == ["/*"]
    assert invalidation_paths([f"p{i}.css" for i in range(16)], "/_staging/") == ["/_staging/*"]
    assert invalidation_paths([f"d{i}/index.html" for i in range(8)], "/") == ["/*"]  # 16 paths
    assert merge_paths(["/a"], ["/*"], "/") == ["/*"]
    assert merge_paths(["/a"], ["/b", "/a"], "/") == ["/a", "/b"]


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
    assert ([c.rel for c in plan.copies], plan.deletes, plan.unchanged) == (["index.html", "new.js"], ("old.js",), 2)
    assert [(c.source_key, c.etag) for c in plan.copies] == [("_staging/index.html", MD5_B), ("_staging/new.js", MD5_A)]
    assert plan.replaced == {"index.html", "old.js"}
    assert plan.paths == ("/", "/index.html", "/new.js", "/old.js")
    copies, deletes, unchanged = compare_objects({}, {"a": obj("a")}, md5s.get, md5s.get)
    assert (copies, deletes, unchanged) == ([], ["a"], 0)


def test_fingerprint_names_exactly_what_would_be_written():
    a = plan_sync(SITE, "production", [local("index.html")], [], lambda key: None)
    b = plan_sync(SITE, "production", [local("index.html", MD5_B)], [], lambda key: None)
    assert a.fingerprint() == plan_sync(SITE, "production", [local("index.html")], [], lambda k: None).fingerprint()
    assert a.fingerprint() != b.fingerprint()


# -- what is published, and the keys S3 can take --------------------------------------------------------------


@pytest.mark.parametrize("rel, include, published", [
    ("index.html", (), True), (".env", (), False), (".well-known/security.txt", (), False),
    (".well-known/security.txt", (".well-known",), True), (".well-known/a/b.txt", (".well-known",), True),
    (".well-known-not/x.txt", (".well-known",), False), ("assets/.htaccess", (".well-known",), False),
    ("assets/.htaccess", ("assets/.htaccess",), True), (".DS_Store", (".DS_Store",), False),
    (".well-known/.git/config", (".well-known",), False), ("Thumbs.db", (), False),
])
def test_what_is_published(rel, include, published):
    assert is_published(rel, include) is published


def test_which_dotfolders_a_scan_goes_into():
    assert may_hold_published("assets") and not may_hold_published(".git", (".git",))
    assert not may_hold_published(".well-known") and may_hold_published(".well-known", (".well-known",))
    assert may_hold_published(".config", (".config/site/x.json",))  # a folder on the way to what is listed
    assert may_hold_published(".well-known/acme", (".well-known",))


def test_keys_s3_cannot_take_are_named_before_anything_else():
    local_files = [local("ok.html"), local("new\nline.html"), local("bell\x07.html"), local("bad\udcff.html"),
                   local("d/" + "x" * 1015 + ".html"), local("c1\x85.html")]
    with pytest.raises(BadNames) as refused:
        plan_sync(SITE, "staging", local_files, [], lambda key: None)
    assert refused.value.names == (
        BadName("new\nline.html", "control", 10), BadName("bell\x07.html", "control", 7),
        BadName("bad\udcff.html", "utf-8"), BadName("d/" + "x" * 1015 + ".html", "length", 1031),
        BadName("c1\x85.html", "control", 0x85))
    # 1,024 bytes is the limit, counted in UTF-8 with the target's area: "é" is 2 bytes, "_staging/" 9.
    assert key_problem("é" * 512) is None and key_problem("é" * 512 + "x") == BadName("", "length", 1025)
    plan_sync(SITE, "production", [local("x" * 1024)], [], lambda key: None)
    with pytest.raises(BadNames):
        plan_sync(SITE, "staging", [local("x" * 1024)], [], lambda key: None)


# -- prefixes: where each target writes, and what it may touch ------------------------------------------------

SHARED = replace(SITE, prefix="gipsykings/")


def test_a_site_with_a_prefix_writes_only_under_it():
    assert (area(SHARED, "production"), area(SHARED, "staging")) == ("gipsykings/", "gipsykings/_staging/")
    assert (area(SITE, "production"), area(SITE, "staging")) == ("", "_staging/")
    assert in_area(SHARED, "production", "gipsykings/index.html")
    assert not in_area(SHARED, "production", "gipsykings/_staging/index.html")
    assert not in_area(SHARED, "production", "birthday/index.html")
    assert in_area(SHARED, "staging", "gipsykings/_staging/a.css") and not in_area(SHARED, "staging", "_staging/a")
    remote = [obj("gipsykings/index.html", MD5_B), obj("gipsykings/old.html"), obj("gipsykings/_staging/x.html"),
              obj("birthday/index.html"), obj("index.html")]
    plan = plan_sync(SHARED, "production", [local("index.html")], remote, lambda key: None)
    assert ([f.rel for f in plan.uploads], plan.deletes, plan.changed_keys()) == (
        ["index.html"], ("old.html",), ["gipsykings/index.html", "gipsykings/old.html"])


def test_cloudfront_paths_follow_the_site_url():
    assert viewer_base(SITE, "production") == "/" and viewer_base(SITE, "staging") == "/_staging/"
    # Its own distribution with the prefix as origin path: the URL has no path, nor do the invalidations.
    assert viewer_base(SHARED, "production") == "/"
    # A shared distribution serving the prefix under the same path.
    under = replace(SHARED, url="https://queenofsandiego.com/gipsykings/")
    assert (viewer_base(under, "production"), viewer_base(under, "staging")) == ("/gipsykings/",
                                                                                "/gipsykings/_staging/")
    plan = plan_sync(under, "staging", [local("index.html")], [], lambda key: None)
    assert plan.paths == ("/gipsykings/_staging/", "/gipsykings/_staging/index.html")
    many = plan_sync(under, "production", [local(f"p{i}.css") for i in range(16)], [], lambda key: None)
    assert many.paths == ("/gipsykings/*",)


# -- rollback -----------------------------------------------------------------------------------------------------


def record(deploy_id: str, target: str = "production", result: str = "deployed", changes: int = 1,
           **more) -> dict:
    return {"deploy_id": deploy_id, "target": target, "result": result, "changes": changes, "versioned": True,
            "bucket": SITE.bucket, "prefix": "", **more}


def ids(records) -> list[str]:
    return [r["deploy_id"] for r in records]


def test_rollback_goes_back_to_the_finished_deploy_before_the_last():
    d1, d2 = record("d1"), record("d2")
    staged, same = record("s", target="staging"), record("u", result="up to date", changes=0)
    restores, undo = rollback_scope([same, staged, d2, d1], complete=True)
    assert restores["deploy_id"] == "d1" and ids(undo) == ["d2"]
    # A failed attempt and its retry are undone together.
    restores, undo = rollback_scope([record("d3"), record("d3f", result="failed"), d2, d1], complete=True)
    assert restores["deploy_id"] == "d2" and ids(undo) == ["d3f", "d3"]
    # The newest change failed: undo it, back to the newest finished deploy.
    restores, undo = rollback_scope([record("d3f", result="failed"), d2, d1], complete=True)
    assert restores["deploy_id"] == "d2" and ids(undo) == ["d3f"]
    restores, undo = rollback_scope([record("d3r", result="running"), d2, d1], complete=True)
    assert ids(undo) == ["d3r"]
    # The only deploy: back to before it.
    assert rollback_scope([d1], complete=True) == (None, [d1])
    with pytest.raises(RollbackRefused) as refused:
        rollback_scope([d1], complete=False)
    assert refused.value.reason == "too_far"
    with pytest.raises(RollbackRefused) as refused:
        rollback_scope([staged, same], complete=True)
    assert refused.value.reason == "nothing"


def test_a_rollback_can_be_undone_and_a_failed_one_finished():
    d1, d2 = record("d1"), record("d2")
    r1 = record("r1", target="rollback", restores="d1")
    restores, undo = rollback_scope([r1, d2, d1], complete=True)
    assert restores["deploy_id"] == "d2" and ids(undo) == ["r1"]  # undoing the rollback
    failed = record("r1", target="rollback", result="failed", restores="d1")
    restores, undo = rollback_scope([failed, d2, d1], complete=True)
    assert restores["deploy_id"] == "d1" and ids(undo) == ["d2", "r1"]  # finishing it
    finished = record("r2", target="rollback", restores="d1")
    restores, undo = rollback_scope([finished, failed, d2, d1], complete=True)
    assert restores["deploy_id"] == "d2" and ids(undo) == ["r1", "r2"]  # undoing the finished one, attempts too


def test_a_deploy_without_recorded_versions_cannot_be_rolled_back():
    with pytest.raises(RollbackRefused) as refused:
        rollback_scope([record("d2", versioned=False), record("d1")], complete=True)
    assert (refused.value.reason, refused.value.deploy["deploy_id"]) == ("unrecorded", "d2")


def test_changes_of_several_deploys_merge_into_first_before_and_last_after():
    merged = merge_changes([[Change("a", "a1", "a2"), Change("b", None, "b2")],
                            [Change("a", "a2", "a3"), Change("c", "c1", None, left_known=False)]])
    assert merged == [Change("a", "a1", "a3"), Change("b", None, "b2"), Change("c", "c1", None, left_known=False)]


def test_rollback_plan_restores_earlier_versions_and_deletes_what_was_added():
    changes = [Change("index.html", "i1", "i2"), Change("new.js", None, "n2"), Change("old.css", "o1", None),
               Change("untouched.txt", "t1", None, left_known=False)]
    current = {"index.html": "i2", "new.js": "n2", "old.css": None, "untouched.txt": "t1"}
    earlier = {("index.html", "i1"): obj("index.html", MD5_A, 10), ("old.css", "o1"): obj("old.css", MD5_B, 3)}
    plan = plan_rollback(SITE, record("d1"), [record("d2")], changes, current, earlier)
    assert [(c.rel, c.source_key, c.version_id, c.size) for c in plan.copies] == [
        ("index.html", "index.html", "i1", 10), ("old.css", "old.css", "o1", 3)]
    assert (plan.deletes, plan.unchanged, plan.undoes) == (("new.js",), 1, ("d2",))
    assert plan.paths == ("/", "/index.html", "/new.js", "/old.css")
    assert plan.replaced == {"index.html", "new.js"}


def test_rollback_refuses_what_changed_since_and_versions_that_are_gone():
    changes = [Change("index.html", "i1", "i2"), Change("a.css", "a1", "a2")]
    with pytest.raises(RollbackRefused) as refused:
        plan_rollback(SITE, None, [record("d1")], changes, {"index.html": "i9", "a.css": "a2"}, {})
    assert (refused.value.reason, refused.value.keys) == ("changed", ("index.html",))
    with pytest.raises(RollbackRefused) as refused:
        plan_rollback(SITE, None, [record("d1")], changes, {"index.html": "i2", "a.css": "a2"},
                      {("a.css", "a1"): obj("a.css")})
    assert (refused.value.reason, refused.value.keys) == ("gone", ("index.html",))
    with pytest.raises(RollbackRefused) as refused:
        plan_rollback(SHARED, None, [record("d1")], changes, {}, {})
    assert refused.value.reason == "moved"  # recorded without the prefix events.json names now
