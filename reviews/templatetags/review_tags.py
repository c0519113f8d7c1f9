"""Template tags of the reviews app: the corrected Cobb measurement a user may see."""
from __future__ import annotations

from django import template

from reviews.selectors import measurement_correction_payload

register = template.Library()


@register.simple_tag
def measurement_correction_for(radiograph, user) -> dict | None:
    """The latest correction of the film `user` may see (the selector decides), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return measurement_correction_payload(radiograph=radiograph, user=user)
