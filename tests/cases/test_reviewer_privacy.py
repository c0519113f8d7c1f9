"""Reviewers read films, not patients: a crawl of everything a reviewer can reach.

A case is seeded with distinctive markers in every identifying field (patient reference, birth
year, notes, owner). The crawler signs in as a reviewer, starts where a reviewer lands (the site
root, the review queue page and API) plus every case URL they might guess, follows every link
and form target in HTML and every `url`/`*_url`/`next` field in JSON, reads a film on the way
(so the post-read pages are crawled too), and asserts no marker appears in any response. The same
crawler as the owner does find the markers: the check can fail.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.test import Client

from cases.models import Case
from tests.factories import RadiographFactory, UserFactory, png_bytes
from tests.inference import support

REFERENCE = "PRIV-REF-QX7731"
NOTES = "NOTE-MARKER-KESTREL"
BIRTH_YEAR = 1931
OWNER = "owner-marker-zeta"
# A birth year is a number; count it only where it stands alone (not inside a hash or an id).
BIRTH_YEAR_RE = re.compile(rf"(?<![0-9A-Za-z]){BIRTH_YEAR}(?![0-9A-Za-z])")
SKIP_PREFIXES = ("/logout/", "/static/", "/admin/")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "data-panel-url") and value:
                self.links.append(value)


def _json_links(value) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key in ("url", "next", "previous") or key.endswith("_url")):
                found.append(item)
            else:
                found.extend(_json_links(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_json_links(item))
    return found


def _local(base: str, link: str) -> str | None:
    if link.startswith(("#", "data:", "mailto:", "javascript:")):
        return None
    parts = urlsplit(urljoin("http://testserver" + base, link))
    if parts.netloc not in ("", "testserver"):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return None if path.startswith(SKIP_PREFIXES) else path


def crawl(client: Client, start: list[str], limit: int = 400) -> dict[str, tuple[int, bytes]]:
    """Every local URL reachable from `start` by GET: {url: (status, body)}."""
    seen: dict[str, tuple[int, bytes]] = {}
    todo = list(start)
    while todo and len(seen) < limit:
        url = todo.pop(0)
        if url in seen:
            continue
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen[url] = (response.status_code, body)
        links: list[str] = []
        if response.has_header("Location"):
            links.append(response["Location"])
        kind = response.get("Content-Type", "")
        if "html" in kind:
            parser = _Links()
            parser.feed(body.decode("utf-8", "replace"))
            links.extend(parser.links)
        elif "json" in kind:
            links.extend(_json_links(json.loads(body or b"null")))
        todo.extend(u for u in (_local(url, link) for link in links) if u and u not in seen)
    return seen


def leaks(pages: dict[str, tuple[int, bytes]], *, reference: str, notes: str) -> list[str]:
    found = []
    for url, (_, body) in pages.items():
        if reference.encode() in body or notes.encode() in body or OWNER.encode() in body:
            found.append(url)
        elif BIRTH_YEAR_RE.search(body.decode("utf-8", "replace")) and not _binary(body):
            found.append(url)
    return found


def _binary(body: bytes) -> bool:
    return body[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb") or body[:3] == b"\xff\xd8\xff"


def guessed_case_urls(case: Case) -> list[str]:
    radiograph = case.radiographs.first()
    return [
        f"/cases/{case.pk}/",
        f"/cases/{case.pk}/edit/",
        f"/api/v1/cases/{case.pk}/",
        f"/api/v1/cases/?search={case.patient_reference}",
        f"/api/v1/cases/?search={case.notes}",
        "/api/v1/cases/",
        f"/radiographs/{radiograph.pk}/",
        f"/api/v1/radiographs/{radiograph.pk}/",
        f"/api/v1/radiographs/{radiograph.pk}/reviews/",
        f"/api/v1/radiographs/{radiograph.pk}/dicom/",
        f"/inference/radiographs/{radiograph.pk}/prediction/",
    ]


@pytest.fixture
def version(db):
    return support.make_model_version_row()


def _seed_case(
    owner, version, *, reference: str, notes: str, seeds: tuple[int, ...], birth_year: int = BIRTH_YEAR
) -> Case:
    case = Case.objects.create(
        owner=owner, patient_reference=reference, birth_year=birth_year, notes=notes, sex="F"
    )
    for seed in seeds:
        radiograph = RadiographFactory(case=case, seed=seed)
        prediction = support.make_finished_prediction(radiograph, version, confidence=0.61)
        prediction.gradcam.save("gradcam.png", ContentFile(png_bytes(seed=seed)))
    return case


@pytest.fixture
def marked_case(db, version, media_dir):
    owner = UserFactory(username=OWNER, role="clinician")
    return _seed_case(owner, version, reference=REFERENCE, notes=NOTES, seeds=(101, 102))


def _crawl_as_reader(user, case: Case) -> dict[str, tuple[int, bytes]]:
    """Crawl, save a read of one film of `case` (answers then unlock), crawl again."""
    client = Client()
    client.force_login(user)
    start = ["/", "/inference/review/", "/api/v1/review-queue/", *guessed_case_urls(case)]
    before = crawl(client, start)
    film = case.radiographs.first()
    saved = client.post(f"/inference/review/radiographs/{film.pk}/", {"label": "normal"})
    assert saved.status_code == 302
    after = crawl(client, start + [f"/inference/review/radiographs/{film.pk}/"])
    return {**before, **{f"{url} (after read)": page for url, page in after.items()}}


def test_reviewer_reaches_no_patient_identity_anywhere(reviewer, marked_case):
    pages = _crawl_as_reader(reviewer, marked_case)
    film = marked_case.radiographs.first()
    # The crawl did reach the reviewer's world: queue, reading page, film, model answer.
    reached = {url for url, (status, _) in pages.items() if status == 200}
    assert f"/inference/review/radiographs/{film.pk}/" in reached
    assert any(u.startswith(f"/api/v1/radiographs/{film.pk}/image/") for u in reached)
    assert any("/gradcam/" in u for u in reached)  # the heat-map, once the read was saved
    assert leaks(pages, reference=REFERENCE, notes=NOTES) == []
    api = json.loads(pages[f"/api/v1/radiographs/{film.pk}/"][1])
    assert api["case"] is None and api["dicom_url"] is None
    assert api["patient_sex"] == "F" and api["patient_age_band"].endswith("9")


def test_owner_crawl_does_find_the_markers(marked_case):
    client = Client()
    client.force_login(marked_case.owner)
    pages = crawl(client, ["/", f"/api/v1/cases/{marked_case.pk}/"])
    found = leaks(pages, reference=REFERENCE, notes=NOTES)
    assert "/" in found and f"/cases/{marked_case.pk}/" in found


def test_clinician_reviewer_sees_identity_only_on_own_cases(version, marked_case):
    dual = UserFactory(username="dual-role-dana", role="clinician")
    dual.groups.add(Group.objects.get_or_create(name="reviewer")[0])
    own = _seed_case(
        dual, version, reference="OWN-REF-DANA-55", notes="OWN-NOTE-DANA", seeds=(201,), birth_year=2011
    )
    pages = _crawl_as_reader(dual, marked_case)
    assert leaks(pages, reference=REFERENCE, notes=NOTES) == []
    # Their own case is theirs to see, reached from their start page.
    assert "OWN-REF-DANA-55" in pages["/"][1].decode()
    assert f"/cases/{own.pk}/" in pages
