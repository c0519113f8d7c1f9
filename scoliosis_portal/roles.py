"""Roles are Django groups. This module is the only place that knows their names."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"
    # A flag on top of REVIEWER (a senior radiologist): may settle disputed reads, like an admin.
    SENIOR_REVIEWER = "senior_reviewer", "Senior reviewer"


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The user's role names, read once per user object (one query) and cached on it."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        if user.is_superuser:
            names.add(Role.ADMIN)
        cached = frozenset(names)
        user._portal_roles = cached
    return cached


def user_is_admin(user) -> bool:
    return Role.ADMIN in user_roles(user)


def user_is_reviewer(user) -> bool:
    return Role.REVIEWER in user_roles(user)


def user_is_clinician(user) -> bool:
    return Role.CLINICIAN in user_roles(user)


def user_may_adjudicate(user) -> bool:
    """Admins, and reviewers flagged senior: settling a disputed label is a radiologist's call,
    and an admin is often not a radiologist."""
    roles = user_roles(user)
    return Role.ADMIN in roles or {Role.REVIEWER, Role.SENIOR_REVIEWER} <= roles
