"""The rectification office works in the admin site: it may view, add and change the ledger's
structure and the users, and only view the measures' workflow records (those change through
measures.services, which record who did what and why; their admin pages are read-only
whatever the permissions say). Nobody gets delete: it would cascade into the audit trail.

The lists are written out rather than imported, as a migration must not change when the code
does.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OFFICE = "office"
VIEW_ADD_CHANGE = {
    "findings": ["inspection", "category", "finding", "inspectionoutcome"],
    "accounts": ["department", "user"],
}
VIEW_ONLY = {
    "measures": ["measure", "progressreport", "evidence", "extension", "measuredecision"],
}


def _office_permissions(apps):  # type: ignore[no-untyped-def]
    Permission = apps.get_model("auth", "Permission")
    wanted = [
        (app_label, f"{action}_{model}")
        for grants, actions in ((VIEW_ADD_CHANGE, ("view", "add", "change")), (VIEW_ONLY, ("view",)))
        for app_label, models in grants.items()
        for model in models
        for action in actions
    ]
    found = [
        p
        for p in Permission.objects.filter(
            content_type__app_label__in=[a for a, _ in wanted], codename__in=[c for _, c in wanted]
        ).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    return found, len(wanted)


def grant_office_permissions(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Permissions are normally created after the last migration (post_migrate); a fresh
    # database has none yet, so create those of these apps now.
    for app_label in {*VIEW_ADD_CHANGE, *VIEW_ONLY}:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    office, _ = Group.objects.get_or_create(name=OFFICE)
    permissions, expected = _office_permissions(apps)
    assert len(permissions) == expected, "a model named in the office's permissions is missing"
    office.permissions.add(*permissions)
    # Django's admin admits only is_staff users; accounts.services keeps the flag in step
    # with the role from now on, this sets it for the office users there already are.
    User = apps.get_model("accounts", "User")
    User.objects.filter(groups=office, is_staff=False).update(is_staff=True)


def revoke_office_permissions(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    office = Group.objects.filter(name=OFFICE).first()
    if office is not None:
        office.permissions.remove(*_office_permissions(apps)[0])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_role_groups"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("findings", "0001_initial"),
        ("measures", "0002_import_mapping_and_pending"),
    ]
    operations = [migrations.RunPython(grant_office_permissions, revoke_office_permissions)]
