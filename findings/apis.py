"""REST API for inspections, categories and findings: read-only, open to every role, as
the inspection pages are. Permissions come from measures.apis (the outer layer may look
upward for them)."""

from django.db.models import QuerySet
from rest_framework import viewsets

from findings.models import Category, Finding, Inspection
from measures.apis import LedgerPermission
from measures.serializers import CategorySerializer, FindingSerializer, InspectionSerializer


class InspectionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InspectionSerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["kind", "follows_up"]

    def get_queryset(self) -> QuerySet[Inspection]:
        return Inspection.objects.order_by("-feedback_date", "-id")


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CategorySerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["inspection"]

    def get_queryset(self) -> QuerySet[Category]:
        return Category.objects.order_by("inspection_id", "order")


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = FindingSerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["inspection", "category", "number"]

    def get_queryset(self) -> QuerySet[Finding]:
        return Finding.objects.select_related("category").order_by("inspection_id", "number")
