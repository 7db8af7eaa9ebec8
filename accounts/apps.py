from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # The project's own deploy checks (rectify.common.checks) register on import.
        import rectify.common.checks  # noqa: F401
