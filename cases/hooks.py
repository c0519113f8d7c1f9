"""The listed points where an app above `cases` adds behaviour to it.

`cases` knows no app above it (see the README's dependency picture). Where a case or a
radiograph needs something only a higher app knows (the model's read of an upload, whether a
radiograph still waits for the model, its readers' labels), that app registers here from its
`AppConfig.ready()`; with nothing registered, `cases` works alone with the defaults below.

| point | registered by | default |
| --- | --- | --- |
| `radiographs_uploaded` (signal, after the upload commits) | inference: queue predictions | nothing |
| `awaiting_model` | inference: latest prediction missing, queued or running | every unconfirmed radiograph waits |
| `radiograph_prediction_payload` | inference: the prediction as the API shows it | None |
| `radiograph_measurement_payload` | inference: the Cobb measurement as the API shows it | None |
| `radiograph_reads_payload` | reviews: the reads this user may see | [] |
| `radiograph_measurement_correction_payload` | reviews: the latest Cobb correction this user may see | None |
| `radiograph_page_partials` | inference: the prediction panel template; reviews: the reviewer's corrected Cobb angle | none |
| `film_states_for_case(s)` | reviews: each film's badge (pending, model answer, outlier, confirmed, corrected, disputed) | the films, with no badge |
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.dispatch import Signal

# Sent once the upload's transaction has committed, with `radiograph_ids: list[int]`.
radiographs_uploaded = Signal()

AwaitingModel = Callable[[Iterable[int]], set[int]]
PayloadProvider = Callable[..., Any]

_awaiting_model: AwaitingModel | None = None
_page_partials: list[str] = []


def awaiting_model_register(provider: AwaitingModel) -> None:
    """`provider(radiograph_ids)` returns the ids among them that still wait for the model."""
    global _awaiting_model
    _awaiting_model = provider


def awaiting_model(radiograph_ids: Iterable[int]) -> set[int]:
    ids = set(radiograph_ids)
    return ids if _awaiting_model is None else set(_awaiting_model(ids))


class PayloadPoint:
    """A point one higher app fills with a provider (`register`); calling the point, with
    keyword arguments only, asks that provider, or answers `empty` while none is registered."""

    def __init__(self, *, empty: Callable[[], Any]) -> None:
        self.empty = empty
        self.provider: PayloadProvider | None = None

    def register(self, provider: PayloadProvider) -> None:
        self.provider = provider

    def __call__(self, **kwargs: Any) -> Any:
        return self.empty() if self.provider is None else self.provider(**kwargs)


# `provider(*, radiograph, request) -> dict | None`; the caller has checked access.
radiograph_prediction_payload = PayloadPoint(empty=lambda: None)
radiograph_prediction_payload_register = radiograph_prediction_payload.register
# `provider(*, radiograph, request) -> dict | None`; the caller has checked access.
radiograph_measurement_payload = PayloadPoint(empty=lambda: None)
radiograph_measurement_payload_register = radiograph_measurement_payload.register
# `provider(*, radiograph, user) -> list[dict]`: the reads `user` may see.
radiograph_reads_payload = PayloadPoint(empty=list)
radiograph_reads_payload_register = radiograph_reads_payload.register
# `provider(*, radiograph, user) -> dict | None`: the reviewer's latest Cobb correction.
radiograph_measurement_correction_payload = PayloadPoint(empty=lambda: None)
radiograph_measurement_correction_payload_register = radiograph_measurement_correction_payload.register


def radiograph_page_partial_register(template_name: str) -> None:
    """A template included in the radiograph page (with `radiograph` in its context)."""
    if template_name not in _page_partials:
        _page_partials.append(template_name)


def radiograph_page_partials() -> list[str]:
    return list(_page_partials)


FilmStates = Callable[..., Any]
_film_states_for_case: FilmStates | None = None
_film_states_for_cases: FilmStates | None = None


def film_states_register(*, for_case: FilmStates, for_cases: FilmStates) -> None:
    """`for_case(*, user, case) -> list` of film states (each with `radiograph`, `number`,
    `kind`, `badge`, `detail`) and `for_cases(*, user, cases) -> {case_id: [film state]}`."""
    global _film_states_for_case, _film_states_for_cases
    _film_states_for_case, _film_states_for_cases = for_case, for_cases


def film_states_for_case(*, user, case) -> list:
    if _film_states_for_case is not None:
        return _film_states_for_case(user=user, case=case)
    from types import SimpleNamespace

    from cases.selectors import radiograph_list_for_user

    radiographs = radiograph_list_for_user(user=user, case_id=case.pk)
    return [
        SimpleNamespace(radiograph=r, number=i, kind="", badge="", detail="")
        for i, r in enumerate(radiographs, start=1)
    ]


def film_states_for_cases(*, user, cases) -> dict[int, list]:
    if _film_states_for_cases is None:
        return {}
    return _film_states_for_cases(user=user, cases=cases)
