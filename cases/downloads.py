"""Serving stored radiograph files. Callers decide who may see the radiograph (selectors);
this module only streams the bytes with headers that keep them out of shared caches."""
from __future__ import annotations

import io
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from PIL import Image

from cases.imaging import thumbnail_render
from cases.models import Radiograph
from cases.services import thumbnail_name_for

logger = logging.getLogger(__name__)


def radiograph_thumbnail_ensure(*, radiograph: Radiograph) -> str:
    """The storage name of the radiograph's thumbnail, rendered now if it was never made (rows
    created outside `radiograph_upload`, e.g. imports or fixtures)."""
    name = thumbnail_name_for(radiograph.image.name)
    if default_storage.exists(name):
        return name
    with radiograph.image.open("rb") as stored:
        data = stored.read()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        thumbnail = thumbnail_render(image)
    # The name is derived from the random image name, so a concurrent render writes the same
    # content; storage may append a suffix to the loser, which is harmless.
    return default_storage.save(name, ContentFile(thumbnail))


def radiograph_file_response(*, radiograph: Radiograph, kind: str) -> FileResponse:
    if kind == "image":
        name, content_type, ext = radiograph.image.name, radiograph.content_type, None
    elif kind == "thumbnail":
        name, content_type, ext = radiograph_thumbnail_ensure(radiograph=radiograph), "image/jpeg", "jpg"
    elif kind == "dicom" and radiograph.dicom_deidentified:
        name, content_type, ext = radiograph.dicom_deidentified.name, "application/dicom", "dcm"
    else:
        raise Http404("No such file.")
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        logger.error("radiograph %s: stored %s file is missing", radiograph.pk, kind)
        raise Http404("The file is missing.") from exc
    ext = ext or name.rsplit(".", 1)[-1]
    response = FileResponse(
        handle, content_type=content_type, filename=f"radiograph-{radiograph.pk}-{kind}.{ext}"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
