"""The ledger's filters, shared by the ledger page, its exports and the API."""

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Role, User
from findings.models import Inspection
from measures.models import OPEN_STATUSES, Measure, MeasureStatus

YES_NO = [("", _("全部")), ("true", _("是")), ("false", _("否"))]


def yes_no_select() -> forms.Select:
    return forms.Select(choices=YES_NO)


def leaders() -> QuerySet[User]:
    return User.objects.filter(groups__name=Role.LEADERSHIP.value).order_by("full_name", "username")


class IdFilter(django_filters.NumberFilter):
    """A row id from a link: a whole number in the database's range. A NumberFilter takes
    any decimal, and SQLite raises OverflowError (a 500) on one like -1.8e308."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class MeasureFilter(django_filters.FilterSet):
    inspection = django_filters.ModelChoiceFilter(
        label=_("检查"), queryset=Inspection.objects.only("id", "title").order_by("-feedback_date", "-id")
    )
    # Category and finding arrive as ids from drill-down links (dashboards, measure pages);
    # a select of every category of a province would be thousands of options long.
    category = IdFilter(field_name="category_id", label=_("问题类别"), widget=forms.HiddenInput)
    finding = IdFilter(field_name="finding_id", label=_("问题"), widget=forms.HiddenInput)
    # 责任单位 is the lead department, as in the figures, so a dashboard count and the
    # ledger it links to always agree.
    department = django_filters.ModelChoiceFilter(
        label=_("责任单位"), field_name="lead_department", queryset=Department.objects.all()
    )
    leader = django_filters.ModelChoiceFilter(label=_("责任领导"), field_name="responsible_leader", queryset=leaders())
    owner = django_filters.CharFilter(label=_("责任人"), lookup_expr="icontains")
    status = django_filters.MultipleChoiceFilter(
        label=_("状态"), choices=MeasureStatus.choices, widget=forms.SelectMultiple
    )
    overdue = django_filters.BooleanFilter(label=_("超期"), field_name="is_overdue", widget=yes_no_select())
    due_soon = django_filters.BooleanFilter(label=_("临期"), field_name="is_due_soon", widget=yes_no_select())
    not_reported = django_filters.BooleanFilter(
        label=_("本期未汇报"), method="filter_not_reported", widget=yes_no_select()
    )
    deadline_after = django_filters.DateFilter(
        label=_("时限起"), field_name="deadline", lookup_expr="gte", widget=forms.DateInput(attrs={"type": "date"})
    )
    deadline_before = django_filters.DateFilter(
        label=_("时限止"), field_name="deadline", lookup_expr="lte", widget=forms.DateInput(attrs={"type": "date"})
    )
    q = django_filters.CharFilter(label=_("搜索问题或措施"), method="filter_text")
    ordering = django_filters.OrderingFilter(
        label=_("排序"),
        fields=(
            ("deadline", "deadline"),
            ("status", "status"),
            ("lead_department__name", "department"),
            ("updated_at", "updated"),
        ),
        field_labels={
            "deadline": _("整改时限"),
            "status": _("状态"),
            "lead_department__name": _("责任单位"),
            "updated_at": _("更新时间"),
        },
    )

    class Meta:
        model = Measure
        fields: list[str] = []

    def filter_text(self, queryset: QuerySet[Measure], name: str, value: str) -> QuerySet[Measure]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(text__icontains=value) | Q(finding__description__icontains=value))

    def filter_not_reported(self, queryset: QuerySet[Measure], name: str, value: bool) -> QuerySet[Measure]:
        # 逾期未报 concerns open measures only: a completed measure has nothing left to report.
        if value:
            return queryset.filter(reported_this_period=False, status__in=OPEN_STATUSES)
        return queryset.exclude(Q(reported_this_period=False) & Q(status__in=OPEN_STATUSES))
