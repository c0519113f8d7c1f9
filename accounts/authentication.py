"""`Authorization: Token <key>`: knox's hashed, expiring tokens, with the second-factor rule."""
from __future__ import annotations

from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from accounts.selectors import second_factor_required


class ApiTokenAuthentication(TokenAuthentication):
    """knox's authentication (digest lookup, expiry, inactive users refused), plus: an account
    that needs a second factor is only let in with a token that was issued with one."""

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        if second_factor_required(user) and not token.second_factor:
            raise exceptions.AuthenticationFailed(
                "This account needs a second factor: request a new token with `otp_token`."
            )
        # What django-otp's middleware gives session users, so one check serves both.
        user.is_verified = lambda: token.second_factor
        return user, token

    def _cleanup_token(self, auth_token) -> bool:
        """Refuse (and delete) this token when it has expired. knox also sweeps every other token
        of the user on each request (one more query per call); expired tokens of a user are
        deleted when they next get a token instead (api_token_issue)."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
