"""Reactions to the measures app's signals; connected in DashboardsConfig.ready()."""

from django.db import transaction
from django.dispatch import receiver

from dashboards.tasks import recompute_figures_soon
from measures.signals import ledger_changed


@receiver(ledger_changed, dispatch_uid="dashboards.recompute_on_ledger_change")
def recompute_on_ledger_change(sender: object, measure_ids: list[int] | None = None, **kwargs: object) -> None:
    # After the commit: a worker that started before it would compute the old ledger, and
    # a rolled-back change must not queue anything. Outside a transaction this runs now.
    transaction.on_commit(recompute_figures_soon)
