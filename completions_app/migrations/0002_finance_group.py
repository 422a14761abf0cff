"""The `finance` group: may view cost records and roll-ups (and so the finance report), nothing else.

Never any permission on providers_app (Provider, ProviderKey): finance must not see keys.
"""

from django.db import migrations

GROUP = "finance"
PERMISSIONS = [("completions_app", "view_completionrecord"), ("completions_app", "view_costrollup")]


def create_finance_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); on a fresh
    # database they do not exist yet, so create this app's now.
    app_config = apps.get_app_config("completions_app")
    models_module = getattr(app_config, "models_module", None)  # absent on historical app configs
    app_config.models_module = True  # create_permissions skips app configs without one
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    perms = [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in PERMISSIONS]
    group.permissions.add(*perms)


def remove_finance_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("completions_app", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_finance_group, remove_finance_group)]
