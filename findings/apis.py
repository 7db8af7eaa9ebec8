"""REST API for inspections, categories and findings: read-only, open to every role, as
the inspection pages are; who holds a role is decided in accounts.roles."""

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.roles import Capability, has_capability
from findings.models import Category, Finding, Inspection
from findings.serializers import CategorySerializer, FindingSerializer, InspectionSerializer


class ReadLedgerPermission(BasePermission):
    """Every role reads inspections, categories and findings; the API writes none of them."""

    def has_permission(self, request: Request, view: object) -> bool:
        return has_capability(request.user, Capability.READ_LEDGER)


class InspectionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InspectionSerializer
    permission_classes = [ReadLedgerPermission]
    filterset_fields = ["kind", "follows_up"]

    def get_queryset(self) -> QuerySet[Inspection]:
        return Inspection.objects.order_by("-feedback_date", "-id")


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CategorySerializer
    permission_classes = [ReadLedgerPermission]
    filterset_fields = ["inspection"]

    def get_queryset(self) -> QuerySet[Category]:
        return Category.objects.order_by("inspection_id", "order")


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = FindingSerializer
    permission_classes = [ReadLedgerPermission]
    filterset_fields = ["inspection", "category", "number"]

    def get_queryset(self) -> QuerySet[Finding]:
        return Finding.objects.select_related("category").order_by("inspection_id", "number")
