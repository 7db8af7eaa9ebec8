"""Reactions to the measures and findings apps' changes; connected in DashboardsConfig.ready()."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from dashboards.tasks import recompute_figures_soon
from findings.models import Finding
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
