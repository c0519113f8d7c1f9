"""The routes of one kind of object, built by the one naming rule the apps' url modules share."""
from __future__ import annotations

from collections.abc import Callable

from django.urls import URLPattern, path


def object_routes(collection: str, name: str, **views: Callable | type) -> list[URLPattern]:
    """The routes of the objects `name` below `collection` (e.g. "models/", "model_version"):

    - `list`: the collection itself, named `<name>_list`;
    - `detail`: one object, `<collection><int:<name>_id>/`, named `<name>_detail`;
    - any other key: a sub-path of one object, the key with hyphens (`activation_risks` is
      `.../activation-risks/`), named `<name>_<key>`.

    A view is a view function or a class-based view (the class: `as_view()` is called here)."""
    one = f"{collection}<int:{name}_id>/"
    routes = []
    for key, view in views.items():
        if key == "list":
            route = collection
        elif key == "detail":
            route = one
        else:
            route = f"{one}{key.replace('_', '-')}/"
        routes.append(path(route, view.as_view() if isinstance(view, type) else view, name=f"{name}_{key}"))
    return routes
