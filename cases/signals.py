"""Stored files follow their rows, and confirmed labels are never deleted: receivers only; the
work is in cases.services."""
from __future__ import annotations

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from cases.models import Radiograph
from cases.services import (
    radiograph_delete_guard,
    stored_files_delete_on_commit,
    thumbnail_name_for,
)


@receiver(post_delete, sender=Radiograph, dispatch_uid="cases-radiograph-files")
def radiograph_files_delete(sender, instance: Radiograph, **kwargs) -> None:
    name = instance.image.name
    stored_files_delete_on_commit(
        names=[name, thumbnail_name_for(name) if name else "", instance.dicom_deidentified.name]
    )


@receiver(pre_delete, sender=Radiograph, dispatch_uid="cases-radiograph-confirmed-guard")
def radiograph_confirmed_delete_refuse(sender, instance: Radiograph, **kwargs) -> None:
    radiograph_delete_guard(radiograph=instance)
