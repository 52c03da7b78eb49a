"""bot.core.catalog: events.json loaded and validated (DESIGN.md, "events.json")."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.core.catalog import Catalog, EventsFileError, load_catalog
from bot.core.domain import Event

REPO_EVENTS = Path(__file__).resolve().parents[2] / "events.json"

SITE = {
    "id": "gipsykings",
    "bucket": "gipsykings-queenofsandiego-com",
    "distributionId": "E2XXXXX",
    "source": "sites/gipsykings",
    "url": "https://gipsykings.queenofsandiego.com",
}


def event(**fields: Any) -> dict[str, Any]:
    return {"id": "jada", "title": "JADA Charter", "date": "2026-05-23", "total": 1560, **fields}


def write(tmp_path: Path, data: Any, name: str = "events.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def refused(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(EventsFileError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")  # every error names the file
    return message


# --- the repository's events.json -------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo_catalog() -> Catalog:
    return load_catalog(REPO_EVENTS)


def test_repo_file_loads(repo_catalog: Catalog) -> None:
    assert len(repo_catalog.events) == len(json.loads(REPO_EVENTS.read_text())["events"])
    assert {s.id for s in repo_catalog.sites} == {"gipsykings", "birthday", "birthday-afternoon"}


def test_repo_jada_charter_total(repo_catalog: Catalog) -> None:
    jada = repo_catalog.event("2026-05-23-jada-charter")
    assert jada is not None
    assert jada.title == "JADA Charter"
    assert jada.date == date(2026, 5, 23)
    assert jada.total_cents == 156000
    assert jada.site is None


def test_repo_gipsykings_capacity_times_price(repo_catalog: Catalog) -> None:
    gipsy = repo_catalog.event("gipsykings")
    assert gipsy is not None
    assert gipsy.total_cents == 75 * 125 * 100 == 937500
    assert gipsy.site == "gipsykings"
    assert gipsy.date == date(2025, 6, 14)


def test_repo_string_total_is_parsed(repo_catalog: Catalog) -> None:
    holiday = repo_catalog.event("2026-12-05-holiday-lights-charter")
    assert holiday is not None
    assert holiday.total_cents == 240000  # "2,400.00"


def test_repo_unknown_keys_kept_in_extra(repo_catalog: Catalog) -> None:
    gipsy = repo_catalog.event("gipsykings")
    assert gipsy is not None
    assert gipsy.extra["heroImages"] == ["hero-1.jpg", "hero-2.jpg", "hero-3.jpg"]
    assert gipsy.extra["description"] == "Sunset sail to the Rady Shell for the Gipsy Kings."
    assert "capacity" not in gipsy.extra and "pricePerPerson" not in gipsy.extra


def test_repo_every_site_source_exists_and_is_not_empty(repo_catalog: Catalog) -> None:
    for site in repo_catalog.sites:
        assert site.source == REPO_EVENTS.parent / "sites" / site.id
        assert site.source.is_dir(), site.source
        assert any(p.is_file() for p in site.source.rglob("*")), site.source
        assert (site.source / "index.html").is_file()


def test_repo_every_event_site_is_a_site(repo_catalog: Catalog) -> None:
    for ev in repo_catalog.events:
        if ev.site is not None:
            assert repo_catalog.site(ev.site) is not None


def test_repo_site_fields(repo_catalog: Catalog) -> None:
    site = repo_catalog.site("gipsykings")
    assert site is not None
    assert site.bucket == "gipsykings-queenofsandiego-com"
    assert site.distribution_id == "E2GK7EXAMPLE01"
    assert site.url == "https://gipsykings.queenofsandiego.com"


def test_lookup_of_unknown_ids(repo_catalog: Catalog) -> None:
    assert repo_catalog.event("nope") is None
    assert repo_catalog.site("nope") is None


# --- good temp files ---------------------------------------------------------------------------------


def test_design_example_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "events": [
                event(id="2026-05-23-jada-charter"),
                {"id": "gipsykings", "title": "Gipsy Kings Concert Night", "date": "2025-06-14",
                 "capacity": 75, "pricePerPerson": 125, "site": "gipsykings"},
            ],
            "sites": [SITE],
        },
    )
    catalog = load_catalog(path)
    assert [e.total_cents for e in catalog.events] == [156000, 937500]
    site = catalog.site("gipsykings")
    assert site is not None
    assert site.source == tmp_path / "sites" / "gipsykings"  # relative to the file


def test_optional_fields_and_amount_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"events": [
            {"id": "a", "title": "  Padded  ", "total": "$1,560.50"},
            {"id": "b", "title": "B", "total": 150.5},
            {"id": "c", "title": "C", "capacity": 3, "pricePerPerson": "19.99"},
        ]},
    )
    catalog = load_catalog(path)
    a, b, c = catalog.events
    assert (a.title, a.date, a.site, a.total_cents) == ("Padded", None, None, 156050)
    assert b.total_cents == 15050
    assert c.total_cents == 5997
    assert catalog.sites == ()


# --- errors name file, entry and field ---------------------------------------------------------------


def test_unknown_site_in_event(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [event(site="nowhere")], "sites": [SITE]})
    assert 'events[0] (jada): field "site"' in message
    assert "'nowhere'" in message


def test_missing_title(tmp_path: Path) -> None:
    data = {"events": [event(id="ok"), {"id": "no-title", "total": 5}]}
    message = refused(tmp_path, data)
    assert message.endswith('events[1] (no-title): field "title": missing')


def test_blank_title(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [event(title="   ")]})
    assert 'events[0] (jada): field "title": must be a non-empty string' in message


def test_missing_total_and_capacity(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [{"id": "jada", "title": "JADA"}]})
    assert 'events[0] (jada): field "total": missing' in message
    assert '"capacity" and "pricePerPerson"' in message


def test_capacity_without_price(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [{"id": "x", "title": "X", "capacity": 10}]})
    assert 'events[0] (x): field "pricePerPerson"' in message


@pytest.mark.parametrize("capacity", [0, -3, 2.5, "75", True])
def test_bad_capacity(tmp_path: Path, capacity: Any) -> None:
    message = refused(tmp_path, {"events": [{"id": "x", "title": "X", "capacity": capacity, "pricePerPerson": 5}]})
    assert 'events[0] (x): field "capacity": must be a whole number of people above 0' in message


@pytest.mark.parametrize(
    ("total", "word"),
    [("12.345", "more than two decimals"), (-5, "positive"), ("-5", "positive"), (0, "more than $0.00"),
     ("1e3", "not a dollar amount"), ("$1,000,000.01", "limit")],
)
def test_bad_amount(tmp_path: Path, total: Any, word: str) -> None:
    message = refused(tmp_path, {"events": [event(total=total)]})
    assert 'events[0] (jada): field "total": ' in message
    assert word in message


@pytest.mark.parametrize("total", [True, None, [1560], {"usd": 1560}])
def test_amount_of_the_wrong_type(tmp_path: Path, total: Any) -> None:
    message = refused(tmp_path, {"events": [event(total=total)]})
    assert 'events[0] (jada): field "total": must be a dollar amount' in message


def test_bad_price_per_person(tmp_path: Path) -> None:
    data = {"events": [{"id": "x", "title": "X", "capacity": 2, "pricePerPerson": "12.345"}]}
    message = refused(tmp_path, data)
    assert 'events[0] (x): field "pricePerPerson": ' in message
    assert "more than two decimals" in message


def test_duplicate_event_id(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [event(), event(id="other"), event(title="Again")]})
    assert 'events[2] (jada): field "id": duplicate of events[0]' in message


def test_duplicate_site_id(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [], "sites": [SITE, {**SITE, "bucket": "other"}]})
    assert 'sites[1] (gipsykings): field "id": duplicate of sites[0]' in message


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "May 23, 2026", "23/05/2026", "20260523", "2026-W21-6"])
def test_bad_date(tmp_path: Path, bad: str) -> None:
    message = refused(tmp_path, {"events": [event(date=bad)]})
    assert f'events[0] (jada): field "date": {bad!r} is not a date in YYYY-MM-DD form' in message


def test_invalid_json_has_line_and_column(tmp_path: Path) -> None:
    message = refused(tmp_path, '{\n  "events": [\n    {"id": "x",}\n  ]\n}\n')
    assert "not valid JSON" in message
    assert "line 3 column" in message


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(EventsFileError) as caught:
        load_catalog(path)
    assert str(caught.value) == f"{path}: file not found (set OPSBOT_EVENTS_FILE to its location)"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(EventsFileError) as caught:
        load_catalog(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: cannot read")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(json.dumps({"events": [event(title="Caf\u00e9")]}, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(EventsFileError) as caught:  # not a UnicodeDecodeError traceback
        load_catalog(path)
    assert str(caught.value).startswith(f"{path}: not UTF-8")


def test_number_too_long_for_python(tmp_path: Path) -> None:
    message = refused(tmp_path, '{"events": [{"id": "x", "title": "X", "total": ' + "9" * 5000 + "}]}")
    assert "not valid JSON" in message


@pytest.mark.parametrize("source", ["../elsewhere", "sites/../../etc", "/var/www/site"])
def test_site_source_outside_the_project(tmp_path: Path, source: str) -> None:
    message = refused(tmp_path, {"events": [], "sites": [{**SITE, "source": source}]})
    assert f'sites[0] (gipsykings): field "source": {source!r} must be a folder inside the project' in message


@pytest.mark.parametrize("field", ["bucket", "distributionId", "source", "url"])
def test_site_missing_field(tmp_path: Path, field: str) -> None:
    site = {k: v for k, v in SITE.items() if k != field}
    message = refused(tmp_path, {"events": [], "sites": [site]})
    assert message.endswith(f'sites[0] (gipsykings): field "{field}": missing')


def test_site_url_not_http(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [], "sites": [{**SITE, "url": "gipsykings.example.com"}]})
    assert 'sites[0] (gipsykings): field "url"' in message


@pytest.mark.parametrize("bad_id", ["JADA-Charter", "jada charter", "-jada", "jada_charter", "x" * 81])
def test_bad_event_id(tmp_path: Path, bad_id: str) -> None:
    message = refused(tmp_path, {"events": [event(id=bad_id)]})
    assert f'events[0] ({bad_id}): field "id": {bad_id!r} must be lowercase letters, digits and dashes' in message


def test_bad_site_id(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [], "sites": [{**SITE, "id": "Gipsy Kings"}]})
    assert 'sites[0] (Gipsy Kings): field "id"' in message


def test_missing_event_id(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [{"title": "X", "total": 5}]})
    assert message.endswith('events[0]: field "id": missing')


def test_entry_not_an_object(tmp_path: Path) -> None:
    message = refused(tmp_path, {"events": [event(), "jada"]})
    assert message.endswith("events[1]: expected an object")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], 'expected an object with "events" and "sites"'),
        ({"sites": []}, '"events" must be a list'),
        ({"events": {}}, '"events" must be a list'),
        ({"events": [], "sites": {}}, '"sites" must be a list'),
    ],
)
def test_wrong_top_level_shape(tmp_path: Path, data: Any, expected: str) -> None:
    assert expected in refused(tmp_path, data)


# --- ordering ----------------------------------------------------------------------------------------


def _ordering_catalog() -> Catalog:
    def ev(ident: str, when: date | None) -> Event:
        return Event(id=ident, title=ident, date=when, total_cents=100)

    return Catalog(
        events=(
            ev("past-old", date(2025, 1, 1)),
            ev("future-far", date(2027, 1, 16)),
            ev("undated", None),
            ev("today-b", date(2026, 5, 23)),
            ev("past-recent", date(2026, 5, 22)),
            ev("today-a", date(2026, 5, 23)),
            ev("future-near", date(2026, 6, 1)),
        ),
        sites=(),
    )


def test_upcoming_from_today_soonest_first() -> None:
    upcoming = _ordering_catalog().upcoming(date(2026, 5, 23))
    assert [e.id for e in upcoming] == ["today-a", "today-b", "future-near", "future-far"]


def test_ordered_upcoming_then_undated_then_past_newest_first() -> None:
    ordered = _ordering_catalog().ordered(date(2026, 5, 23))
    assert [e.id for e in ordered] == [
        "today-a", "today-b", "future-near", "future-far", "undated", "past-recent", "past-old",
    ]


def test_repo_file_ordering(repo_catalog: Catalog) -> None:
    today = date(2026, 12, 6)
    assert [e.id for e in repo_catalog.upcoming(today)] == [
        "2026-12-12-birthday-afternoon", "2026-12-12-birthday-sail", "2027-01-16-whale-watch-charter",
    ]
    assert [e.id for e in repo_catalog.ordered(today)] == [
        "2026-12-12-birthday-afternoon", "2026-12-12-birthday-sail", "2027-01-16-whale-watch-charter",
        "2026-12-05-holiday-lights-charter", "2026-05-23-jada-charter", "gipsykings",
    ]


# --- a site's source, its part of the bucket, and what it publishes (issue 17) -----------------------------


def refused_with(tmp_path: Path, sites: list[dict[str, Any]], **protected: Path) -> str:
    path = write(tmp_path, {"events": [], "sites": sites})
    with pytest.raises(EventsFileError) as caught:
        load_catalog(path, protected={k.replace("_", " "): v for k, v in protected.items()})
    return str(caught.value)


def test_a_source_of_the_project_folder_itself_is_refused(tmp_path: Path) -> None:
    for source in (".", "./"):
        message = refused_with(tmp_path, [{**SITE, "source": source}])
        assert message == (f'{tmp_path / "events.json"}: sites[0] (gipsykings): field "source": {source!r} is the '
                           "folder of events.json itself, which holds events.json, .env and the store: give the site "
                           "a folder of its own inside it")


def test_a_source_through_a_linked_folder_is_resolved_and_must_stay_inside(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "gipsykings"
    outside.mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "sites").symlink_to(outside.parent)
    message = refused_with(project, [SITE])
    assert message.endswith(f'sites[0] (gipsykings): field "source": \'sites/gipsykings\' resolves to {outside}, '
                            f"outside {project} (the folder of events.json): a symbolic link on the way leads out; "
                            'point "source" at a real folder inside')
    # A link that stays inside the project is fine: the site keeps the real folder.
    (project / "sites").unlink()
    (project / "build" / "gk-2026").mkdir(parents=True)
    (project / "sites").mkdir()
    (project / "sites" / "gipsykings").symlink_to(project / "build" / "gk-2026")
    site = load_catalog(write(project, {"events": [], "sites": [SITE]})).site("gipsykings")
    assert site is not None and site.source == project / "build" / "gk-2026"


def test_a_source_holding_the_store_or_the_env_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    message = refused_with(tmp_path, [{**SITE, "source": "data"}], the_store=tmp_path / "data" / "opsbot.db")
    assert message.endswith(f"field \"source\": 'data' holds the store ({tmp_path / 'data' / 'opsbot.db'}): a deploy "
                            "would publish it; give the site a folder of its own")
    message = refused_with(tmp_path, [{**SITE, "source": "data"}], **{".env": tmp_path / "data" / "sub" / ".env"})
    assert "'data' holds .env" in message
    (tmp_path / "file.html").write_text("x")
    assert refused_with(tmp_path, [{**SITE, "source": "file.html"}]).endswith("'file.html' is a file, not a folder")


def test_the_running_bot_protects_its_store_and_env_file(make_settings, tmp_path: Path) -> None:
    from bot.bootstrap import build_services

    (tmp_path / "state").mkdir()
    path = write(tmp_path, {"events": [], "sites": [{**SITE, "source": "state"}]})
    with pytest.raises(EventsFileError, match="'state' holds the store"):
        build_services(make_settings(OPSBOT_EVENTS_FILE=str(path),
                                     OPSBOT_STORE=f"sqlite:///{tmp_path / 'state' / 'opsbot.db'}"))


def test_sites_sharing_a_bucket_each_need_their_own_prefix(tmp_path: Path) -> None:
    other = {**SITE, "id": "birthday", "source": "sites/birthday"}
    message = refused_with(tmp_path, [SITE, other])
    assert message.endswith("sites[1] (birthday): field \"prefix\": missing: it shares the bucket "
                            "'gipsykings-queenofsandiego-com' with sites[0] (gipsykings), and sites share a bucket "
                            "only when each names its own \"prefix\" (like \"birthday/\")")
    message = refused_with(tmp_path, [SITE, {**other, "prefix": "birthday/"}])
    assert 'sites[0] (gipsykings): field "prefix": missing: it shares the bucket' in message
    message = refused_with(tmp_path, [{**SITE, "prefix": "events/"}, {**other, "prefix": "events/birthday"}])
    assert message.endswith("sites[1] (birthday): field \"prefix\": 'events/birthday/' overlaps sites[0] "
                            "(gipsykings)'s 'events/' on the bucket 'gipsykings-queenofsandiego-com': each site needs "
                            "a prefix of its own")
    catalog = load_catalog(write(tmp_path, {"events": [], "sites": [{**SITE, "prefix": "gk"},
                                                                    {**other, "prefix": "events/birthday/"}]}))
    assert [s.prefix for s in catalog.sites] == ["gk/", "events/birthday/"]


@pytest.mark.parametrize("prefix", ["/gk/", "_staging/", "gk/_staging", "a//b", "gk/../x", "g k/", "x" * 201])
def test_a_prefix_is_plain_folder_names(tmp_path: Path, prefix: str) -> None:
    message = refused_with(tmp_path, [{**SITE, "prefix": prefix}])
    assert 'sites[0] (gipsykings): field "prefix": ' in message and "must be folder names" in message


def test_a_site_lists_the_dotfiles_it_publishes(tmp_path: Path) -> None:
    site = load_catalog(write(tmp_path, {"events": [], "sites": [
        {**SITE, "include": [".well-known/", "assets/.htaccess", ".well-known"]}]})).site("gipsykings")
    assert site is not None and site.include == (".well-known", "assets/.htaccess")
    for include, problem in [(".well-known", "must be a list of paths inside the source"),
                             (["../.env"], "must be a path inside the source"),
                             (["/etc/.passwd"], "must be a path inside the source"),
                             (["assets"], "names no dotfile or dotfolder: everything else is published already"),
                             ([".git"], "version-control folders are never published"), ([""], "must be a list")]:
        message = refused_with(tmp_path, [{**SITE, "include": include}])
        assert 'sites[0] (gipsykings): field "include": ' in message and problem in message, message


@pytest.mark.parametrize("field, value", [("bucket", "Gipsy_Kings"), ("bucket", "ab"), ("bucket", "a..b.com"),
                                          ("distributionId", "E2 GK"), ("distributionId", "x" * 65),
                                          ("url", "https://" + "x" * 300)])
def test_bucket_distribution_and_url_are_checked(tmp_path: Path, field: str, value: str) -> None:
    message = refused_with(tmp_path, [{**SITE, field: value}])
    assert f'sites[0] (gipsykings): field "{field}": ' in message and len(message) < 400
