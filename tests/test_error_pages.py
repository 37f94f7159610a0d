"""Bad input gets a clear error: a page for people, JSON for the API; nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from pages.views import server_error_view

pytestmark = pytest.mark.django_db


def test_unknown_page_is_a_readable_404_page():
    response = Client().get("/no/such/page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Not found" in response.content


def test_unknown_api_address_is_json():
    response = Client().get("/auth/session/extra")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_form_without_csrf_token_gets_a_page_that_says_what_to_do():
    response = Client(enforce_csrf_checks=True).post("/auth/logout")
    assert response.status_code == 403
    assert b"Form expired" in response.content


def test_server_error_page_needs_no_database(rf):
    response = server_error_view(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
