"""One error format for the whole API.

Every error answer has the shape
    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {...}, "files": [...]}}
where `fields` (validation errors per field) and `files` (per-file upload rejections) appear only
when they apply. Wire it with REST_FRAMEWORK["EXCEPTION_HANDLER"].
"""
from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class UploadRejectedError(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "upload_rejected"
    default_detail = "Some files were rejected; nothing was stored."

    def __init__(self, files: list[dict[str, str]]) -> None:
        count = len(files)
        noun = "file was" if count == 1 else "files were"
        super().__init__(f"{count} {noun} rejected; nothing from this upload was stored.")
        self.files = files


class TooManyAttemptsError(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"
    default_detail = "Too many failed sign-in attempts. Try again later."


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handling and logging take over
    error: dict[str, Any] = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        error["code"] = "invalid"
        detail = exc.detail
        if isinstance(detail, dict):
            non_field = detail.get("non_field_errors")
            error["message"] = _first_message(non_field) if non_field else "Some fields are invalid."
            error["fields"] = {k: v for k, v in detail.items() if k != "non_field_errors"}
        else:
            error["message"] = _first_message(detail)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        error["code"] = codes if isinstance(codes, str) else exc.default_code
        error["message"] = _first_message(exc.detail)
    else:  # Http404 and PermissionDenied from Django, converted by DRF
        error["code"] = "not_found" if response.status_code == 404 else "permission_denied"
        error["message"] = _first_message(response.data.get("detail", "Error."))
    if isinstance(exc, UploadRejectedError):
        error["files"] = exc.files
    response.data = {"error": error}
    return response
