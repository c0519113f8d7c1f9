"""Request bodies we refuse before they cost memory or disk.

- Upload files stream to a temporary file (FILE_UPLOAD_MAX_MEMORY_SIZE is small), and the upload
  handler stops at the first file that passes UPLOAD_MAX_BYTES: its temporary file is deleted at
  once. On an upload view (marked with `parses_uploads`) the middleware parses the body before
  the CSRF check or the view can, and answers 413 naming the file; anywhere else the error is a
  multipart parse error (400), never a 500.
- Sign-in endpoints (AUTH_BODY_LIMITED_PATHS) take a username and a password: a body declared
  larger than AUTH_MAX_BODY_BYTES is answered with 413 before anything parses it.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

from cases.imaging import max_upload_bytes, too_large_message

_DISCARD_CHUNK = 64 * 1024
# How much of a refused sign-in body we read (and drop) so the client sees the 413.
_AUTH_DISCARD_BYTES = 8 * 1024 * 1024


class UploadTooLarge(MultiPartParserError):
    """One uploaded file passed UPLOAD_MAX_BYTES; nothing of it was kept.

    A MultiPartParserError, so that Django and DRF answer 400 wherever the middleware below did
    not turn it into a 413 first."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = (name or "file")[:200]
        self.message = too_large_message(limit)
        super().__init__(f"{self.name}: {self.message}")


class SizeLimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler that gives up on a file once it passes UPLOAD_MAX_BYTES."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._limit = max_upload_bytes()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self._limit:
            # A NamedTemporaryFile is deleted when closed: nothing of this file stays on disk.
            self.file.close()
            raise UploadTooLarge(self.file_name, self._limit)
        return super().receive_data_chunk(raw_data, start)


def request_body_discard(request: HttpRequest, *, limit: int | None = None) -> None:
    """Read and drop what is left of the body, in small chunks and at most `limit` bytes.

    Answering before the client has finished sending makes many clients see a reset connection
    instead of our 413; reading the rest (without keeping it) lets them read the answer.
    """
    if limit is None:
        limit = max_upload_bytes() * int(getattr(settings, "UPLOAD_MAX_FILES", 20))
    remaining = limit
    try:
        while remaining > 0:
            chunk = request.read(min(_DISCARD_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except OSError:  # the client went away; nothing to answer
        return


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large_response(request: HttpRequest, message: str, files: list[dict] | None = None):
    if request.path.startswith("/api/"):
        error: dict = {"status": 413, "code": "too_large", "message": message}
        if files:
            error["files"] = files
        return JsonResponse({"error": error}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def parses_uploads(view):
    """Mark a view (function or DRF APIView class) whose multipart body the middleware parses
    first, so that a file over the limit is answered with 413."""
    view.parses_uploads = True
    return view


class RequestBodyLimitMiddleware:
    """413 for an oversized sign-in request or an upload with a file over UPLOAD_MAX_BYTES.

    Goes before CsrfViewMiddleware: its process_view must parse the upload before the CSRF check
    reads request.POST."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = int(getattr(settings, "AUTH_MAX_BODY_BYTES", 1024 * 1024))
        paths = tuple(getattr(settings, "AUTH_BODY_LIMITED_PATHS", ()))
        if paths and request.path.startswith(paths) and _content_length(request) > limit:
            request_body_discard(request, limit=_AUTH_DISCARD_BYTES)
            return _too_large_response(
                request, f"A sign-in request may not be larger than {limit // 1024} KB."
            )
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        marked = getattr(view_func, "parses_uploads", False) or getattr(
            getattr(view_func, "cls", None), "parses_uploads", False
        )
        if not marked or request.method != "POST":
            return None
        if not request.content_type.startswith("multipart/"):
            return None
        if not (request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META):
            return None  # refused unread by the view's own login check
        try:
            request.POST  # noqa: B018 - parses the body (files included) once, here
        except UploadTooLarge as exc:
            request_body_discard(request)
            message = f"{exc.name}: {exc.message} Nothing from this upload was stored."
            return _too_large_response(
                request, message, [{"name": exc.name, "code": "too_large", "message": exc.message}]
            )
        return None
