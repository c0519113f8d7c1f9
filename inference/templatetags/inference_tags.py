from django import template

from inference.selectors import (
    measurement_latest_for_radiograph,
    prediction_latest_for_radiograph,
    prediction_panel_context,
)

register = template.Library()


@register.inclusion_tag("inference/_prediction_panel.html", takes_context=True)
def prediction_panel(context, radiograph):
    """The model's answer for a radiograph the view already let the user see; its Cobb layer
    draws the latest correction of the film this user may see, if any."""
    request = context.get("request")
    return prediction_panel_context(
        radiograph=radiograph, prediction=prediction_latest_for_radiograph(radiograph),
        user=getattr(request, "user", None),
    )


@register.simple_tag
def prediction_finished(radiograph) -> bool:
    prediction = prediction_latest_for_radiograph(radiograph)
    measurement = measurement_latest_for_radiograph(radiograph)
    return (prediction is None or prediction.is_finished) and (measurement is None or measurement.is_finished)


@register.simple_tag
def user_review_roles(user) -> dict[str, bool]:
    from scoliosis_portal.roles import user_is_admin, user_is_reviewer, user_may_adjudicate

    return {
        "reviewer": user_is_reviewer(user),
        "admin": user_is_admin(user),
        "adjudicator": user_may_adjudicate(user),
    }


@register.filter
def ago(moment) -> str:
    """"just now" under a minute (Django's timesince would say "0 minutes"), else "N units ago"."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.simple_tag(takes_context=True)
def radiograph_confirmation(context, radiograph) -> dict | None:
    """The confirmed read and who confirmed it, for the requesting user (the page already let
    them see `radiograph`)."""
    from cases.selectors import radiograph_confirmation_for_user

    request = getattr(context, "request", None)
    if request is None or radiograph is None:
        return None
    return radiograph_confirmation_for_user(radiograph=radiograph, user=request.user)
