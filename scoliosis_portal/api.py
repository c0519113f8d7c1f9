"""Small REST helpers every app's API shares: paging, one row through its selector, and a
service's refusal as DRF's. (The error shape itself is cases.api_errors'.)"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ClientSizedPagination(PageNumberPagination):
    """25 a page; a client may ask for up to 100 (`page_size`)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class BlankAsNullField(serializers.CharField):
    """A read-only text column shown as null while it is blank ("" is the row's "none")."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value) -> str | None:
        return value or None


class AbsoluteUrlField(serializers.CharField):
    """The URL named `url_name` for this row (its pk as the one argument): absolute when the
    serializer has the request in its context, else the path."""

    def __init__(self, url_name: str, **kwargs) -> None:
        self.url_name = url_name
        super().__init__(source="pk", read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        path = reverse(self.url_name, args=[value])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


def page_response(view: APIView, request: Request, rows, serializer_class, context: dict | None = None) -> Response:
    """One page of `rows` (the view's `pagination_class`), each as `serializer_class` shows it."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)


# The two base views below have no docstring on purpose: the schema generator would show it as
# the description of every endpoint built on them.


class SelectedPageApi(APIView):
    # GET one page of `select(user=...)` (the selector decides who may list them), each row as
    # `serializer_class` shows it.
    select: Callable
    serializer_class: type[serializers.BaseSerializer]

    def get(self, request: Request) -> Response:
        return page_response(self, request, type(self).select(user=request.user), self.serializer_class)


class SelectedRowApi(APIView):
    # GET one row: `select(user=..., <the URL's id>)` decides who may see it (404 otherwise),
    # `serializer_class` shows it with the request in its context.
    select: Callable
    serializer_class: type[serializers.BaseSerializer]

    def get(self, request: Request, **url_ids) -> Response:
        row = type(self).select(user=request.user, **url_ids)
        return Response(self.serializer_class(row, context={"request": request}).data)


def validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's ValidationError as DRF's (a 400 with the same messages)."""
    return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


@contextmanager
def service_refusals() -> Iterator[None]:
    """A service's PermissionDenied or ValidationError (Django's) as DRF's: a 403 or a 400 with
    the same messages."""
    try:
        yield
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc
    except DjangoValidationError as exc:
        raise validation_error(exc) from exc
