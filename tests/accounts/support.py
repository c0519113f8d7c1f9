"""Shared checks for the account tests."""
from __future__ import annotations


def assert_pages_show_none_of(client, urls, secrets) -> None:
    """Each of `urls` answers 200 to `client`, and its page contains none of `secrets`."""
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        for secret in secrets:
            assert secret not in content, url
