"""Who holds which role, and what a role may do before any particular measure is in question.

The one definition of roles: every page, form, import and service asks `role_of`,
`is_leader` or `leaders()` here instead of reading auth groups itself. A user in several
groups holds the strongest role (office > leadership > auditor > staff), and `leaders()`
lists exactly the users for whom `is_leader` is true, so a form never offers a leader whom
the edit would then refuse.

What a user may do to one measure (its department, its status, its responsible leader) is
decided on top of this in `measures.permissions`, the one place for object permissions.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import Role, User

# Strongest first: the first of these groups a user is in is the user's role.
ROLE_PRECEDENCE: tuple[Role, ...] = (Role.OFFICE, Role.LEADERSHIP, Role.AUDITOR, Role.STAFF)


class Capability(StrEnum):
    """What a role may do anywhere, with no measure in question."""

    READ_LEDGER = "read_ledger"  # staff's rows are still cut to their department
    EDIT_LEDGER = "edit_ledger"  # create and edit inspections, categories, findings, measures
    RECOMPUTE_FIGURES = "recompute_figures"  # run the dashboards' recompute job now
    IMPORT_LEDGER = "import_ledger"  # an import creates and rewrites measures wholesale
    EXPORT_LEDGER = "export_ledger"  # what is exported is still cut to what the user may see
    READ_NOTICE = "read_notice"
    EDIT_NOTICE = "edit_notice"  # the wording; the figures come from the ledger whoever edits
    SEE_EVERYTHING = "see_everything"  # every department's measures and figures


_CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.READ_LEDGER: frozenset(Role),
    Capability.EDIT_LEDGER: frozenset({Role.OFFICE}),
    Capability.RECOMPUTE_FIGURES: frozenset({Role.OFFICE}),
    Capability.IMPORT_LEDGER: frozenset({Role.OFFICE}),
    Capability.EXPORT_LEDGER: frozenset(Role),
    # A notice is written to be published: every role reads and downloads it.
    Capability.READ_NOTICE: frozenset(Role),
    Capability.EDIT_NOTICE: frozenset({Role.OFFICE}),
    Capability.SEE_EVERYTHING: frozenset({Role.OFFICE, Role.LEADERSHIP, Role.AUDITOR}),
}


def role_of(user: User | AnonymousUser | None) -> Role | None:
    """The user's role, read once per user object and kept on it (one query per request)."""
    if user is None or not user.is_authenticated:
        return None
    cached: Role | None | bool = getattr(user, "_rectify_role", False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    role: Role | None
    if user.is_superuser:
        role = Role.OFFICE
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = next((r for r in ROLE_PRECEDENCE if r.value in names), None)
    user._rectify_role = role  # type: ignore[union-attr]
    return role


def is_leader(user: User | AnonymousUser | None) -> bool:
    """Whether the user acts as leadership (领导): reviews, decides extensions, may be named
    a measure's responsible leader."""
    return role_of(user) == Role.LEADERSHIP


def leaders() -> QuerySet[User]:
    """Everyone for whom `is_leader` holds, in the order forms list them.

    A superuser or a member of the office group is the office, whatever other groups they
    are in, so they are not offered as a responsible leader.
    """
    return (
        User.objects.filter(groups__name=Role.LEADERSHIP.value, is_superuser=False)
        .exclude(groups__name=Role.OFFICE.value)
        .order_by("full_name", "username")
        .distinct()
    )


def has_capability(user: User | AnonymousUser | None, capability: Capability) -> bool:
    role = role_of(user)
    return role is not None and role in _CAPABILITIES[capability]
