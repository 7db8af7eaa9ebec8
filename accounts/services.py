"""Writes for users that the role rules depend on."""

from accounts.models import Role, User


def user_sync_admin_access(*, user: User) -> None:
    """The rectification office works in the admin site too; nobody else does.

    Django lets into the admin only users marked is_staff, so the flag follows the role:
    set for the office group (and superusers), cleared for everyone else. Call it after
    the user's groups change.
    """
    is_staff = user.is_superuser or user.groups.filter(name=Role.OFFICE.value).exists()
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
