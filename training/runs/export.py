"""Export of confirmed labels: a zip with a folder per class and a manifest CSV, for use
outside the platform. Patients appear only as a pseudonymous group (a keyed hash), never as
their hospital reference."""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import zipfile
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied

from scoliosis_portal.roles import user_is_admin
from training.runs.dataset import confirmed_radiographs, patient_group

MANIFEST_COLUMNS = [
    "radiograph_id", "label", "readers", "model_prediction", "model_version", "group",
    "in_evaluation_set", "path",
]


def pseudonymous_group(radiograph) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, patient_group(radiograph).encode(), hashlib.sha256).hexdigest()[:16]


def _latest_prediction(radiograph):
    predictions = [p for p in radiograph.predictions.all() if p.status == "succeeded"]
    return max(predictions, key=lambda p: (p.finished_at or p.created_at, p.pk), default=None)


def confirmed_labels_export(*, user, out: IO[bytes]) -> int:
    """Write the zip to `out`; returns the number of radiographs exported. Admins only."""
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may export labels.")
    radiographs = confirmed_radiographs().prefetch_related(
        "reviews__reviewer", "predictions__model_version"
    )
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_COLUMNS)
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for radiograph in radiographs.iterator(chunk_size=200):
            ext = radiograph.image.name.rsplit(".", 1)[-1] if "." in radiograph.image.name else "png"
            path = f"{radiograph.confirmed_label}/{radiograph.pk}.{ext}"
            with radiograph.image.open("rb") as handle:
                archive.writestr(path, handle.read())
            readers = ";".join(
                f"{review.reviewer.get_username()}={review.label}" for review in radiograph.reviews.all()
            )
            prediction = _latest_prediction(radiograph)
            writer.writerow([
                radiograph.pk, radiograph.confirmed_label, readers,
                prediction.label if prediction else "",
                prediction.model_version.name if prediction else "",
                pseudonymous_group(radiograph),
                int(radiograph.in_evaluation_set), path,
            ])
            count += 1
        archive.writestr("manifest.csv", manifest.getvalue())
    return count
