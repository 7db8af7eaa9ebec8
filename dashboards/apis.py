"""REST API for the figures (dashboards.models.Figure): read-only.

Staff read the figures of their own department's scope only, as a count over other
departments' measures is not theirs to see; everyone else reads every scope.
"""

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from accounts.models import User
from dashboards.models import Figure, ScopeKind
from measures.apis import LedgerPermission
from measures.permissions import sees_everything


class FigureSerializer(serializers.ModelSerializer):
    scope_kind_display = serializers.CharField(source="get_scope_kind_display", read_only=True)
    completion_rate = serializers.DecimalField(max_digits=6, decimal_places=2, read_only=True, allow_null=True)
    sign_off_rate = serializers.DecimalField(max_digits=6, decimal_places=2, read_only=True, allow_null=True)
    open_findings = serializers.IntegerField(read_only=True)

    class Meta:
        model = Figure
        fields = [
            "id",
            "scope_kind",
            "scope_kind_display",
            "scope_id",
            "measures",
            "completed",
            "signed_off",
            "overdue",
            "due_soon",
            "not_reported",
            "findings",
            "rectified_findings",
            "open_findings",
            "completion_rate",
            "sign_off_rate",
            "computed_at",
        ]
        read_only_fields = fields


class FigureViewSet(viewsets.ReadOnlyModelViewSet):
    """统计数据: completion and sign-off figures per scope (overall, inspection, category,
    department, leader), as last computed by the recompute job."""

    serializer_class = FigureSerializer
    permission_classes = [LedgerPermission]
    filterset_fields = ["scope_kind", "scope_id"]

    def get_queryset(self) -> QuerySet[Figure]:
        figures = Figure.objects.order_by("scope_kind", "scope_id")
        user = self.request.user
        if sees_everything(user):
            return figures
        department_id = user.department_id if isinstance(user, User) else None
        if department_id is None:
            return figures.none()
        return figures.filter(scope_kind=ScopeKind.DEPARTMENT, scope_id=department_id)
