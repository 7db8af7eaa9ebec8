"""The ledger CSV for API clients (/api/measures/export.csv): the page's export, with the
API's authentication and its 400s for filters that do not validate."""

import csv
import io
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from ledgerio.views import ledger_csv_response
from measures.apis import ledger_measures_for
from measures.filters import MeasureFilter
from measures.models import Measure
from measures.permissions import can_export


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
        return ledger_measures_for(self.request)

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
