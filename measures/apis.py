"""REST API for measures, their progress and evidence metadata.

Permissions are the pages': `LedgerPermission` asks measures.permissions, and every
queryset is cut by `visible_measures` first, so no endpoint or filter reaches a measure
its user could not open in the browser.
"""

import csv
import io
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from measures.filters import MeasureFilter
from measures.io_views import ledger_csv_response
from measures.models import Evidence, Measure, ProgressReport
from measures.permissions import Action, can, can_export, role_of, visible_measures
from measures.selectors import ledger_default_order, ledger_rows
from measures.serializers import EvidenceSerializer, MeasureSerializer, ProgressReportSerializer


class LedgerPermission(BasePermission):
    """Any user with a role may read (what they see is cut by `visible_measures`); writes
    need the office's EDIT_LEDGER; a single measure needs Action.VIEW."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if role_of(request.user) is None:
            return False
        return request.method in SAFE_METHODS or can(request.user, Action.EDIT_LEDGER)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        measure = obj if isinstance(obj, Measure) else getattr(obj, "measure", None)
        if measure is None:
            # Inspections, categories and findings: every role reads them, as on the pages.
            return True
        return can(request.user, Action.VIEW, measure)


def _ledger_measures(request: Request) -> QuerySet[Measure]:
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
        return ledger_rows(_ledger_measures(self.request)).prefetch_related("assisting_departments")


class ExportPermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return can_export(request.user)


class CsvRenderer(BaseRenderer):
    """Lets a client ask for text/csv (Accept header or ?format=csv). The export streams
    its bytes past the renderers; this one only writes error bodies, a row per message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        out = io.StringIO()
        writer = csv.writer(out)
        items = data.items() if isinstance(data, dict) else [("detail", data)]
        for field, messages in items:
            for message in messages if isinstance(messages, list) else [messages]:
                writer.writerow([field, str(message)])
        return out.getvalue().encode()


class MeasureCsvExportView(generics.GenericAPIView):
    """整改台账 as CSV for API clients: byte for byte /ledger/export.csv for the same user
    and query string (one export function, one response builder). Unlike the page, a
    filter value that does not validate is a 400, as on /api/measures/, not ignored."""

    permission_classes = [ExportPermission]
    # JSON first, so errors read like the rest of the API unless text/csv is asked for.
    renderer_classes = [JSONRenderer, CsvRenderer]
    filter_backends = [DjangoFilterBackend]
    filterset_class = MeasureFilter
    pagination_class = None

    def get_queryset(self) -> QuerySet[Measure]:
        return _ledger_measures(self.request)

    @extend_schema(
        operation_id="measures_export_csv",
        summary="Master ledger (整改台账) as CSV",
        description=(
            "The 18 master-ledger columns as UTF-8 CSV with a byte-order mark, one row per measure "
            "the user may see, filtered and ordered by the same query parameters as /api/measures/. "
            "Streamed, not paginated. Cells that a spreadsheet would read as a formula start with an "
            "apostrophe."
        ),
        filters=True,
        # ?format= only picks how an error is written; the file is CSV whatever it says.
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The ledger file.")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return ledger_csv_response(self.filter_queryset(self.get_queryset()))


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
