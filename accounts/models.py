"""API tokens. Only a SHA-512 digest of each token is stored (django-rest-knox); the key is shown
once, to the client that asked for it."""
from __future__ import annotations

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """A knox token that remembers whether a second factor was checked when it was issued.

    An account that needs a second factor (admins) can only use a token issued with one: a
    token issued before the account became an admin stops working, it is not silently upgraded.
    """

    # A plain id as the primary key: knox's is the digest, which would then appear in admin URLs.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=128, unique=True)
    second_factor = models.BooleanField(
        default=False, help_text="A one-time code was verified when this token was issued."
    )

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        # Never the digest or the key prefix: a token is identified by its owner and dates.
        return f"API token of {self.user} (created {self.created:%Y-%m-%d %H:%M})"
