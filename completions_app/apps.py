from django.apps import AppConfig


class CompletionsAppConfig(AppConfig):
    name = "completions_app"
    verbose_name = "Completions"
    default_auto_field = "django.db.models.BigAutoField"
