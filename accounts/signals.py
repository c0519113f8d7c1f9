"""A changed password or a deactivated account revokes every API token of that user.

Sessions need no receiver: Django invalidates them itself (the session stores a hash of the
password, and an inactive user is not loaded from a session).
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.services import api_tokens_revoke

User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="accounts_note_credential_change")
def _note_credential_change(sender, instance, **kwargs) -> None:
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._revoke_api_tokens = bool(before) and (
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=User, dispatch_uid="accounts_revoke_tokens_on_credential_change")
def _revoke_tokens_on_credential_change(sender, instance, created, **kwargs) -> None:
    if getattr(instance, "_revoke_api_tokens", False):
        api_tokens_revoke(user=instance)
        instance._revoke_api_tokens = False
