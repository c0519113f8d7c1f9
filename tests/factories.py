"""factory_boy factories shared by the test suite (the personas in tests/conftest.py use them).
Synthetic images are in tests/images.py."""
from __future__ import annotations

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from factory.django import DjangoModelFactory

from cases.models import BurnedInAnnotation, Case, ImageFormat, Radiograph, Sex
from tests.images import dicom_bytes, jpeg_bytes, png_bytes, spine_pixels

__all__ = [
    "CaseFactory", "RadiographFactory", "UserFactory", "dicom_bytes", "jpeg_bytes", "png_bytes",
    "spine_pixels", "upload",
]

PASSWORD = "correct-horse-battery-staple-42"


def upload(data: bytes, name: str = "image.png", content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- factories ----------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@hospital.example")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        """`UserFactory(role="clinician")` puts the user in that role's group."""
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class CaseFactory(DjangoModelFactory):
    class Meta:
        model = Case

    owner = factory.SubFactory(UserFactory, role="clinician")
    patient_reference = factory.Sequence(lambda n: f"MRN-{n:06d}")
    sex = Sex.FEMALE
    birth_year = 2008
    notes = ""


class RadiographFactory(DjangoModelFactory):
    """A stored radiograph with a real small PNG (unique per instance through `seed`)."""

    class Meta:
        model = Radiograph

    class Params:
        seed = factory.Sequence(int)
        image_bytes = factory.LazyAttribute(
            lambda o: png_bytes(width=o.width, height=o.height, seed=o.seed)
        )

    case = factory.SubFactory(CaseFactory)
    uploaded_by = factory.LazyAttribute(lambda o: o.case.owner)
    source_format = ImageFormat.PNG
    content_type = "image/png"
    width = 96
    height = 128
    bit_depth = 8
    # Synthetic pixels with no text: declared free of burned-in annotation, as a DICOM could be.
    burned_in_annotation = BurnedInAnnotation.NO
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.image_bytes).hexdigest())
    size_bytes = factory.LazyAttribute(lambda o: len(o.image_bytes))
    image = factory.LazyAttribute(lambda o: ContentFile(o.image_bytes, name="factory.png"))
