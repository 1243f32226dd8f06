"""``/blobs/`` with any string in its path or query: a 4xx, never a 5xx (a property test)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=60)  # lone surrogates too


def percent_encoded(text: str) -> str:
    """The bytes a client could send for ``text`` (lone surrogates as their raw UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="/")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=ANY_TEXT, sig=ANY_TEXT, filename=ANY_TEXT, expires=st.integers())
def test_any_blob_path_and_query_is_a_4xx(
    client: TestClient, key: str, sig: str, filename: str, expires: int
) -> None:
    query = f"expires={expires}&sig={percent_encoded(sig)}&filename={percent_encoded(filename)}"
    answer = client.get(f"/blobs/{percent_encoded(key)}?{query}")
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=ANY_TEXT)
def test_any_blob_key_passed_as_text_is_a_4xx(client: TestClient, key: str) -> None:
    # the same, with the characters handed to the client as they are (its own encoding)
    try:
        answer = client.get(f"/blobs/{key}", params={"expires": "1", "sig": "x"})
    except (UnicodeEncodeError, ValueError, httpx.InvalidURL):
        return  # not sendable as a URL at all: nothing reaches the server
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
