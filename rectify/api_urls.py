"""The REST API under /api/: resources, the OpenAPI schema and its docs page.

The docs page's Swagger UI comes from drf-spectacular-sidecar (our own static files): no
CDN, which bureau intranets cannot reach anyway; and the split view serves its start-up
script as a file too, so the page runs under a script-src 'self' policy.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from dashboards.apis import FigureViewSet
from findings.apis import CategoryViewSet, FindingViewSet, InspectionViewSet
from ledgerio.apis import MeasureCsvExportView
from measures.apis import EvidenceViewSet, MeasureViewSet, ProgressReportViewSet

app_name = "api"

router = DefaultRouter()
router.register("inspections", InspectionViewSet, basename="inspection")
router.register("categories", CategoryViewSet, basename="category")
router.register("findings", FindingViewSet, basename="finding")
router.register("measures", MeasureViewSet, basename="measure")
router.register("progress-reports", ProgressReportViewSet, basename="progress-report")
router.register("evidence", EvidenceViewSet, basename="evidence")
router.register("figures", FigureViewSet, basename="figure")

urlpatterns = [
    # Before the router: its "measures/<pk>.<format>" pattern would read this as pk "export".
    path("measures/export.csv", MeasureCsvExportView.as_view(), name="measure-export-csv"),
    path("", include(router.urls)),
    # The schema describes the API, not the data, but a bureau's intranet API is not public.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[IsAuthenticated]),
        name="docs",
    ),
]
