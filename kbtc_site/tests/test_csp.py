"""The Content-Security-Policy: scripts only from our own files, on every page.

The header is parsed here; that the pages really run under it (no script, style or image the
policy refuses) is checked in Chromium by ``tests/e2e/test_csp_browser.py``. What would break
it is an inline script or an ``on*=`` handler in a template: none may exist.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = ("/", "/api/docs/", "/admin/login/", "/api/status/", "/healthz")


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


class InlineScripts(HTMLParser):
    """Executable inline script (a <script> without src that is not a data block) and
    event-handler attributes: what ``script-src 'self'`` refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.found.extend(f"{tag} {name}=" for name, _ in attrs if name.startswith("on"))
        if tag == "script" and "src" not in named:
            self._inline = named.get("type") != "application/json"

    def handle_data(self, data: str) -> None:
        if self._inline and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inline = False


def inline_scripts(html: str) -> list[str]:
    parser = InlineScripts()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_a_policy_that_allows_only_our_own_scripts(client: Client, path):
    response = client.get(path)
    assert response.status_code == 200
    directives = policy(response["Content-Security-Policy"])
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/admin/login/"])
def test_the_pages_have_no_inline_script_the_policy_would_refuse(client: Client, path):
    assert inline_scripts(client.get(path).content.decode()) == []


def test_the_api_docs_load_their_setup_script_from_our_own_origin(client: Client):
    html = client.get("/api/docs/").content.decode()
    assert 'src="/api/docs/?script=' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_an_inline_script_or_event_handler():
    templates = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
    assert templates
    for template in templates:
        assert inline_scripts(template.read_text()) == [], template


def test_the_inline_script_finder_finds_what_the_policy_refuses():
    html = '<button onclick="go()">x</button><script>alert(1)</script><script src="/a.js"></script>'
    assert inline_scripts(html) == ["button onclick=", "<script>alert(1)"]
