"""Groups for the management API's roles (and for staff users alike):

- `admin`: manages providers, provider keys, models (and fallbacks), teams and client keys;
  reads price history, cost records and roll-ups.
- `finance` (0002): reads cost records and roll-ups; now also model price history
  ("what did model X cost on date D", GET /api/v1/models/{id}/prices; ModelPrice has no
  admin page of its own). Still nothing on Provider, ProviderKey or Model.
"""

from django.db import migrations

ADMIN_GROUP = "admin"
FINANCE_GROUP = "finance"
MANAGED = [
    ("providers_app", "provider"),
    ("providers_app", "providerkey"),
    ("providers_app", "model"),
    ("providers_app", "modelfallback"),
    ("completions_app", "team"),
    ("completions_app", "clientkey"),
]
READ_ONLY = [
    ("providers_app", "modelprice"),
    ("completions_app", "completionrecord"),
    ("completions_app", "costrollup"),
]
FINANCE_ADDED = [("providers_app", "view_modelprice")]


def _permissions_created(apps):
    from django.contrib.auth.management import create_permissions

    # On a fresh database permissions exist only after post_migrate: create them now (as 0002 does).
    for label in ("providers_app", "completions_app"):
        app_config = apps.get_app_config(label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module


def create_groups(apps, schema_editor):
    _permissions_created(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perm(app, codename):
        return Permission.objects.get(content_type__app_label=app, codename=codename)

    admin, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    perms = [perm(app, f"{action}_{model}") for app, model in MANAGED for action in ("add", "change", "delete", "view")]
    perms += [perm(app, f"view_{model}") for app, model in READ_ONLY]
    admin.permissions.add(*perms)
    finance, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    finance.permissions.add(*[perm(app, codename) for app, codename in FINANCE_ADDED])


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=ADMIN_GROUP).delete()
    Permission = apps.get_model("auth", "Permission")
    finance = Group.objects.filter(name=FINANCE_GROUP).first()
    if finance is not None:
        finance.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="providers_app", codename__in=[c for _, c in FINANCE_ADDED]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("completions_app", "0008_managementtoken"),
        ("completions_app", "0002_finance_group"),
        ("providers_app", "0006_model_price_history"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
