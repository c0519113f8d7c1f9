from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in: API tokens (hashed, expiring), the second factor of admin accounts, client address."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401 - receivers and the OpenAPI scheme
