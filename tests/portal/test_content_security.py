"""Content-Security-Policy on every page, no inline script anywhere, and API docs behind a login
and served from the project (not a CDN). Tried as an attacker who got HTML into a page: without
inline script or foreign script sources there is nothing for it to run."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import RadiographFactory

ROOT = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        if INLINE_SCRIPT.search(text) or INLINE_HANDLER.search(text):
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


def _pages_of(persona: str, case, radiograph) -> list[str]:
    pages = {
        "anonymous": ["/login/"],
        "clinician": ["/", reverse("cases:case_detail", args=[case.pk]),
                      reverse("cases:radiograph_detail", args=[radiograph.pk]), "/api/v1/docs/"],
        "reviewer": ["/inference/review/"],
        "admin_user": ["/training/", "/admin/", "/audit/", "/inference/review/agreement/",
                       "/account/second-factor/setup/"],
    }
    return pages[persona]


@pytest.mark.parametrize("persona", ["anonymous", "clinician", "reviewer", "admin_user"])
def test_every_page_carries_a_policy_that_allows_only_own_scripts(request, client_as, persona, case):
    radiograph = RadiographFactory(case=case)
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    client = client_as(user)
    for url in _pages_of(persona, case, radiograph):
        response = client.get(url, follow=True)
        assert response.status_code == 200, (url, response.status_code)
        policy = _policy(response)
        assert policy["script-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert not INLINE_HANDLER.search(html), (url, INLINE_HANDLER.search(html).group(0))


def test_schema_and_docs_need_a_login(client):
    assert client.get("/api/v1/schema/").status_code in (401, 403)
    assert client.get("/api/v1/docs/").status_code in (401, 403)
    assert client.get("/api/v1/docs/?script=").status_code in (401, 403)


def test_docs_ui_is_served_from_the_project(client_as, clinician):
    client = client_as(clinician)
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert any("drf_spectacular_sidecar" in src for src in sources)
    init = client.get("/api/v1/docs/?script=")
    assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()
    assert client.get("/api/v1/schema/").status_code == 200


def test_training_progress_script_is_a_static_file(client_as, admin_user):
    from django.contrib.staticfiles import finders

    assert finders.find("training/run_poll.js")
    assert "training/run_poll.js" in (ROOT / "templates" / "training" / "_run_poll.html").read_text()
