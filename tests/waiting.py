"""Waiting, in a test, for a row that a worker changes."""
from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TypeVar

Row = TypeVar("Row")


def wait_for_status(
    fetch: Callable[[], Row],
    statuses: Collection[str],
    *,
    timeout: float,
    every: float = 0.1,
    detail: Callable[[Row], str] = lambda row: "",
) -> Row:
    """`fetch()` again every `every` seconds until the row's status is one of `statuses`; the
    test fails after `timeout` seconds, naming the row, its status and `detail(row)`."""
    deadline = time.monotonic() + timeout
    while True:
        row = fetch()
        if row.status in statuses:
            return row
        if time.monotonic() >= deadline:
            raise AssertionError(f"{type(row).__name__} {row.pk} still {row.status} after {timeout}s{detail(row)}")
        time.sleep(every)
