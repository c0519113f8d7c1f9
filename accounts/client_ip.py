"""The client's address, as django-axes and the DRF throttles must both see it.

Behind the reverse proxy every request comes from the proxy's address; the client's address is
in X-Forwarded-For. That header is only trusted as far as our own proxies wrote it:
`TRUSTED_PROXY_COUNT` proxies each append the address they received from, so the client is the
entry that many places from the right. Anything to the left of it was written by the client and
may be forged (a new forged address per attempt would otherwise mean unlimited guesses).
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    remote_addr = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        # The request did not come through all our proxies: only the socket address is known.
        return remote_addr
    return forwarded[-proxies]
