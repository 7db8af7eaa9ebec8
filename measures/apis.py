"""REST API for measures, their progress and evidence metadata.

Permissions are the pages': `LedgerPermission` asks measures.permissions, and every
queryset is cut by `visible_measures` first, so no endpoint or filter reaches a measure
its user could not open in the browser.
"""

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.roles import Capability, has_capability
from measures.filters import MeasureFilter
from measures.models import Evidence, Measure, ProgressReport
from measures.permissions import Action, can, visible_measures
from measures.selectors import ledger_default_order, ledger_rows
from measures.serializers import EvidenceSerializer, MeasureSerializer, ProgressReportSerializer


class LedgerPermission(BasePermission):
    """Any user with a role may read (what they see is cut by `visible_measures`); writes
    need the office's EDIT_LEDGER; a single measure needs Action.VIEW."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not has_capability(request.user, Capability.READ_LEDGER):
            return False
        return request.method in SAFE_METHODS or can(request.user, Action.EDIT_LEDGER)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        measure = obj if isinstance(obj, Measure) else getattr(obj, "measure", None)
        if measure is None:
            # Inspections, categories and findings: every role reads them, as on the pages.
            return True
        return can(request.user, Action.VIEW, measure)


def ledger_measures_for(request: Request) -> QuerySet[Measure]:
    """The measures this user may see, in the ledger page's order unless `?ordering=`."""
    measures = visible_measures(request.user, Measure.objects.all())
    if not request.query_params.get("ordering"):
        measures = ledger_default_order(measures)
    return measures


class MeasureViewSet(viewsets.ReadOnlyModelViewSet):
    """整改措施: the master ledger's rows, filtered with the ledger page's filters."""

    serializer_class = MeasureSerializer
    permission_classes = [LedgerPermission]
    filter_backends = [DjangoFilterBackend]
    filterset_class = MeasureFilter

    def get_queryset(self) -> QuerySet[Measure]:
        # Six joins, two correlated subqueries and one prefetch, whatever the page size.
        return ledger_rows(ledger_measures_for(self.request)).prefetch_related("assisting_departments")


class ProgressReportViewSet(viewsets.ReadOnlyModelViewSet):
    """整改进展 of the measures the user may see; `?measure=` for one measure's."""

    serializer_class = ProgressReportSerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["measure", "reported_on"]

    def get_queryset(self) -> QuerySet[ProgressReport]:
        visible = visible_measures(self.request.user, Measure.objects.all())
        return (
            ProgressReport.objects.filter(measure__in=visible.values("id"))
            .select_related("author", "measure")
            .prefetch_related("measure__assisting_departments")
            .order_by("-reported_on", "-id")
        )


class EvidenceViewSet(viewsets.ReadOnlyModelViewSet):
    """佐证材料 metadata (no file contents) of the measures the user may see."""

    serializer_class = EvidenceSerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["measure"]

    def get_queryset(self) -> QuerySet[Evidence]:
        visible = visible_measures(self.request.user, Measure.objects.all())
        return (
            Evidence.objects.filter(measure__in=visible.values("id"))
            .select_related("uploaded_by", "measure")
            .prefetch_related("measure__assisting_departments")
            .order_by("uploaded_at", "id")
        )
