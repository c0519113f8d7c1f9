"""Who needs a second factor, and whether this request has one."""
from __future__ import annotations

from scoliosis_portal.roles import user_is_admin


def second_factor_required(user) -> bool:
    """Admin accounts: the admin role, and staff or superusers (they reach the Django admin).
    Decided from the account, not from its devices, so removing a device never lowers the bar."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or user.is_superuser or user_is_admin(user)


def second_factor_verified(user) -> bool:
    """Set on the request's user by django-otp's middleware (sessions) or by ApiTokenAuthentication."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())
