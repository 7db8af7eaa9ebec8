"""Reactions to the measures and findings apps' changes; connected in DashboardsConfig.ready()."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Department, User
from dashboards.fragments import names_changed
from dashboards.tasks import recompute_figures_soon
from findings.models import Category, Finding, Inspection
from measures.signals import ledger_changed


@receiver(ledger_changed, dispatch_uid="dashboards.recompute_on_ledger_change")
def recompute_on_ledger_change(sender: object, measure_ids: list[int] | None = None, **kwargs: object) -> None:
    # After the commit: a worker that started before it would compute the old ledger, and
    # a rolled-back change must not queue anything. Outside a transaction this runs now.
    transaction.on_commit(recompute_figures_soon)


@receiver(post_save, sender=Finding, dispatch_uid="dashboards.recompute_on_finding_change")
def recompute_on_finding_change(
    sender: object, instance: Finding, created: bool, update_fields: frozenset[str] | None = None, **kwargs: object
) -> None:
    # A new finding changes the findings counts; a finding moved to another category moves
    # its measures in the category figures (findings.services.finding_update). The office's
    # edit form names the category even when it stays; the debounce makes that one cheap run.
    if created or (update_fields is not None and "category" in update_fields):
        transaction.on_commit(recompute_figures_soon)


# The fields of a user that no dashboard shows: a login alone must not retire the cache.
USER_FIELDS_OFF_THE_DASHBOARD = frozenset({"last_login", "password"})


@receiver(post_save, sender=Inspection, dispatch_uid="dashboards.names_on_inspection_save")
@receiver(post_delete, sender=Inspection, dispatch_uid="dashboards.names_on_inspection_delete")
@receiver(post_save, sender=Category, dispatch_uid="dashboards.names_on_category_save")
@receiver(post_delete, sender=Category, dispatch_uid="dashboards.names_on_category_delete")
@receiver(post_save, sender=Department, dispatch_uid="dashboards.names_on_department_save")
@receiver(post_delete, sender=Department, dispatch_uid="dashboards.names_on_department_delete")
@receiver(post_save, sender=User, dispatch_uid="dashboards.names_on_user_save")
@receiver(post_delete, sender=User, dispatch_uid="dashboards.names_on_user_delete")
def retire_dashboard_fragments(sender: object, update_fields: frozenset[str] | None = None, **kwargs: object) -> None:
    # Names, titles, order and dates the cached dashboard shows (dashboards.fragments).
    if sender is User and update_fields is not None and update_fields <= USER_FIELDS_OFF_THE_DASHBOARD:
        return
    transaction.on_commit(names_changed)
