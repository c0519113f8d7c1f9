"""The printable case report (PDF): each film with the model's answer, its outlier state, the
reader's label and the model version; measurements where they exist; the decision-aid
statement; the patient's identity only for the case's clinician and admins.

WeasyPrint renders our own HTML template. Its URL fetcher allows only the `data:` images we
embed, so a report can never make the server fetch a file or a host.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from cases.access import model_answer_hidden
from cases.downloads import radiograph_thumbnail_ensure
from cases.models import Case, CaseReportExport, Radiograph
from reviews.film_states import FilmState, film_states_for_case
from scoliosis_portal.roles import user_is_admin

logger = logging.getLogger(__name__)

# --- measurements: the extension point ----------------------------------------------------------


@dataclass(frozen=True)
class ReportMeasurement:
    """One line of a film's measurements, as printed (e.g. "Cobb angle, main thoracic", 23.4,
    "°", "model lm-2"). `value` None means "not measured" and `note` says why."""

    name: str
    value: float | None
    unit: str
    source: str
    note: str = ""


MeasurementProvider = Callable[[Radiograph], list[ReportMeasurement]]
_measurement_providers: list[MeasurementProvider] = []


def report_measurement_provider_register(provider: MeasurementProvider) -> None:
    """Measurements (e.g. Cobb angles) join the report through here: the app that stores them
    registers a function `radiograph -> [ReportMeasurement]` in its AppConfig.ready(). Until one
    does, the report says that no measurement exists. Registering twice is a no-op."""
    if provider not in _measurement_providers:
        _measurement_providers.append(provider)


def _measurements(radiograph: Radiograph) -> list[ReportMeasurement]:
    return [m for provider in _measurement_providers for m in provider(radiograph)]


def cobb_report_measurements(radiograph: Radiograph) -> list[ReportMeasurement]:
    """The landmark model's Cobb measurement of the film (registered in ReviewsConfig.ready):
    the largest curve with its end vertebrae, apex and severity, then the two other curves; or
    one "not measured" line with the reason."""
    from inference.models import PredictionStatus
    from inference.selectors import measurement_latest_for_radiograph, severity_in_words

    corrected = _corrected_line(radiograph)
    m = measurement_latest_for_radiograph(radiograph)
    if m is None:
        return corrected
    source = f"model {m.model_version.name}"
    if m.status in (PredictionStatus.QUEUED, PredictionStatus.RUNNING):
        return [*corrected, ReportMeasurement("Cobb angle", None, "\u00b0", source, "still being measured")]
    if m.status == PredictionStatus.FAILED:
        return [*corrected, ReportMeasurement("Cobb angle", None, "\u00b0", source, "the measurement failed")]
    if m.not_measured:
        return [*corrected, ReportMeasurement("Cobb angle", None, "\u00b0", source, m.not_measured)]
    largest = (f"Cobb angle, largest curve ({m.largest_upper}\u2013{m.largest_lower}, apex "
               f"{m.largest_apex}, {m.curve_type}-shaped; {severity_in_words(m.severity)})")
    return [
        *corrected,
        ReportMeasurement(largest, m.largest_angle, "\u00b0", source),
        ReportMeasurement("Cobb angle, second curve", m.cobb_mt, "\u00b0", source),
        ReportMeasurement("Cobb angle, third curve", m.cobb_tl, "\u00b0", source),
    ]


def _corrected_line(radiograph: Radiograph) -> list[ReportMeasurement]:
    """The reviewer's latest correction, printed first: it is the angle the case goes by."""
    from inference.selectors import severity_in_words
    from reviews.selectors import measurement_correction_latest

    c = measurement_correction_latest(radiograph=radiograph)
    if c is None:
        return []
    name = (f"Cobb angle, reviewer's correction ({c.upper_end}\u2013{c.lower_end}, apex {c.apex}; "
            f"{severity_in_words(c.severity)})")
    return [ReportMeasurement(name, c.largest_angle, "\u00b0", f"reviewer, {c.created_at:%Y-%m-%d}")]


# --- rendering ----------------------------------------------------------------------------------


def report_shows_identity(*, user, case: Case) -> bool:
    """The patient's identity is printed for the clinician who owns the case and for admins;
    anyone else allowed to see the case (a reviewer) gets the films without it."""
    return case.owner_id == user.pk or user_is_admin(user)


def _thumbnail_data_uri(radiograph: Radiograph) -> str | None:
    try:
        name = radiograph_thumbnail_ensure(radiograph=radiograph)
        with default_storage.open(name, "rb") as handle:
            data = handle.read()
    except OSError:  # missing or unreadable file (PIL's errors are OSErrors too)
        logger.error("radiograph %s: no thumbnail for the case report", radiograph.pk)
        return None  # printed as "image unavailable"; the rest of the report still stands
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


@dataclass
class ReportFilm:
    state: FilmState
    thumbnail: str | None
    measurements: list[ReportMeasurement]


def case_report_html(*, user, case: Case, films: list[FilmState]) -> str:
    show_identity = report_shows_identity(user=user, case=case)
    return render_to_string(
        "cases/report.html",
        {
            "case": case,
            "show_identity": show_identity,
            "films": [
                ReportFilm(
                    state=film,
                    thumbnail=_thumbnail_data_uri(film.radiograph),
                    # Measurements are the model's answer too: blind reading hides them.
                    measurements=[] if model_answer_hidden(user=user, radiograph=film.radiograph)
                    else _measurements(film.radiograph),
                )
                for film in films
            ],
            "printed_at": timezone.now(),
            "printed_by": user.get_username(),
        },
    )


def case_report_pdf(*, html: str) -> bytes:
    # Imported here: WeasyPrint loads Pango at import, which only this page needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    only_embedded = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    return HTML(string=html, url_fetcher=only_embedded).write_pdf()


def case_report_export(*, user, case: Case) -> bytes:
    """The case report as PDF bytes, recorded in the export trail.

    1. Read the films' states through the same selector as the case page.
    2. Render the HTML (identity only where `report_shows_identity`) and the PDF.
    3. Record who exported what, with the PDF's digest, in one transaction.
    The caller has checked that the user may see the case (`case_get_for_user`)."""
    films = film_states_for_case(user=user, case=case)
    pdf = case_report_pdf(html=case_report_html(user=user, case=case, films=films))
    with transaction.atomic():
        CaseReportExport.objects.create(
            case=case,
            exported_by=user,
            film_count=len(films),
            identity_included=report_shows_identity(user=user, case=case),
            sha256=hashlib.sha256(pdf).hexdigest(),
        )
    return pdf
