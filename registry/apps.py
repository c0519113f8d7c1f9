from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _register_default_model(sender, using="default", **kwargs) -> None:
    """Fresh install: register the shipped models (models/default.pt, models/landmarks.pt) and
    make each active if no model of its kind is."""
    from django.conf import settings

    if not getattr(settings, "INFERENCE_REGISTER_DEFAULT_ON_MIGRATE", True):
        return
    if "plan" not in kwargs:
        # `flush` (e.g. between transactional tests) also sends post_migrate; that is no install.
        return
    from registry.models import ModelKind
    from registry.services import model_version_register_default

    for kind in ModelKind:
        model_version_register_default(kind=kind)


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # Once per migrate (sender=this app), after every app's tables exist.
        post_migrate.connect(_register_default_model, sender=self, dispatch_uid="registry-default-model")
