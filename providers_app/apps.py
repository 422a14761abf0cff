from django.apps import AppConfig


class ProvidersAppConfig(AppConfig):
    name = "providers_app"
    verbose_name = "Providers"
    default_auto_field = "django.db.models.BigAutoField"
