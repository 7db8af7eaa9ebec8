"""The ledger's filters, shared by the ledger page, its exports and the API."""

import itertools

import django_filters
from django import forms
from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from accounts.models import Department
from accounts.roles import leaders
from findings.models import Finding, Inspection
from measures.models import OPEN_STATUSES, Measure, MeasureStatus

# Filters that narrow the ledger to a small set of rows through an index of their own.
NARROWING_FILTERS = ("inspection", "category", "finding", "department", "leader", "overdue", "due_soon")

YES_NO = [("", _("全部")), ("true", _("是")), ("false", _("否"))]


class PlainOptionsMixin:
    """Writes a select's <option>s in Python instead of one template render per option.

    The ledger's filter form holds some 300 options (inspections, departments, leaders,
    statuses …); rendered through Django's form templates they were a third of the
    ledger page's time at a million measures. The markup is the same as Django's
    (tests/measures/test_filters.py compares the two), every value and label escaped.
    """

    def render(self, name: str, value: object, attrs: dict | None = None, renderer: object = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]  # type: ignore[attr-defined]
        parts = [f'<select name="{escape(widget["name"])}"{flatatt(widget["attrs"])}>']
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'<optgroup label="{escape(group_name)}">')
            # An option's attrs are {} or {"selected": True} (Select does not pass its own
            # attrs on to options); flatatt only where there is something to write.
            parts += (
                f'<option value="{escape(o["value"])}"{flatatt(o["attrs"]) if o["attrs"] else ""}>'
                f"{escape(o['label'])}</option>"
                for o in options
            )
            if group_name:
                parts.append("</optgroup>")
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 (every value and label escaped above)


class PlainSelect(PlainOptionsMixin, forms.Select):
    pass


class PlainSelectMultiple(PlainOptionsMixin, forms.SelectMultiple):
    pass


def yes_no_select() -> forms.Select:
    return PlainSelect(choices=YES_NO)


class RecentChoicesSelect(PlainSelect):
    """A select over a long, newest-first list of model choices: it lists the first
    `limit` of them and always the chosen one, while the field still accepts any id.

    A province's ledger holds thousands of inspections; listing them all made every ledger
    page 800 KB and spent 300 ms rendering options nobody scrolls to. Older inspections
    are reached by the drill-down links (which pass ids) or the inspections page.
    """

    def __init__(self, *args: object, limit: int = 200, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.limit = limit

    def get_context(self, name: str, value: object, attrs: dict | None) -> dict:
        everything = self.choices
        # +1: the empty "---------" choice comes first.
        shown = list(itertools.islice(everything, self.limit + 1))
        listed = {str(getattr(key, "value", key)) for key, _label in shown}
        chosen = {str(v) for v in (value if isinstance(value, list | tuple) else [value]) if v not in (None, "")}
        missing = chosen - listed
        if missing and hasattr(everything, "queryset"):
            shown += [everything.choice(obj) for obj in everything.queryset.filter(pk__in=missing)]
        self.choices = shown
        try:
            return super().get_context(name, value, attrs)
        finally:
            self.choices = everything


class IdFilter(django_filters.NumberFilter):
    """A row id from a link: a whole number in the database's range. A NumberFilter takes
    any decimal, and SQLite raises OverflowError (a 500) on one like -1.8e308."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


def ignored_filters(filterset: "MeasureFilter") -> str:
    """The labels of the filters in the request that do not validate, for the page to name.

    django-filter applies the filters that validate and leaves these out: a hand-edited
    address, or a bookmark naming a department since removed, still lists by the rest."""
    if not filterset.is_bound or filterset.is_valid():
        return ""
    form = filterset.form
    return pgettext("list separator", "、").join(str(form.fields[name].label) for name in form.errors)


class EqualsAny(Func):
    """`value = ANY(array)` (PostgreSQL), a condition an index can answer."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[no-untyped-def]
        value, value_params = compiler.compile(self.source_expressions[0])
        array, array_params = compiler.compile(self.source_expressions[1])
        return f"{value} = ANY({array})", (*value_params, *array_params)


class MeasureFilter(django_filters.FilterSet):
    inspection = django_filters.ModelChoiceFilter(
        label=_("检查"),
        queryset=Inspection.objects.only("id", "title").order_by("-feedback_date", "-id"),
        widget=RecentChoicesSelect,
    )
    # Category and finding arrive as ids from drill-down links (dashboards, measure pages);
    # a select of every category of a province would be thousands of options long.
    category = IdFilter(field_name="category_id", label=_("问题类别"), widget=forms.HiddenInput)
    finding = IdFilter(field_name="finding_id", label=_("问题"), widget=forms.HiddenInput)
    # 责任单位 is the lead department, as in the figures, so a dashboard count and the
    # ledger it links to always agree.
    department = django_filters.ModelChoiceFilter(
        label=_("责任单位"), field_name="lead_department", queryset=Department.objects.all(), widget=PlainSelect
    )
    leader = django_filters.ModelChoiceFilter(
        label=_("责任领导"), field_name="responsible_leader", queryset=leaders(), widget=PlainSelect
    )
    owner = django_filters.CharFilter(label=_("责任人"), lookup_expr="icontains")
    status = django_filters.MultipleChoiceFilter(
        label=_("状态"), choices=MeasureStatus.choices, widget=PlainSelectMultiple
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
        # The finding's description is matched through a subquery, not a join: an OR across
        # the join scanned and joined the whole ledger (3 s at a million measures).
        finding_ids = Finding.objects.filter(description__icontains=value).order_by().values("id")
        # cleaned_data, not the raw data: a filter that did not validate narrows nothing.
        if any(self.form.cleaned_data.get(name) not in (None, "", False) for name in NARROWING_FILTERS):
            # Another filter already picks a few thousand rows by index; testing the text
            # on just those is cheapest.
            return queryset.filter(Q(text__icontains=value) | Q(finding_id__in=finding_ids))
        if connection.vendor == "postgresql":
            # The text alone: `finding_id = ANY(ARRAY(…))` is an index condition, so
            # PostgreSQL ORs the trigram scan of the text (migration dashboards 0003) and
            # the finding_id index into one bitmap and reads each matching row once. The
            # union of two id sets it replaces was re-joined to the ledger by a scan of
            # every measure: 636 ms for a word in 3% of a million rows, now under 300.
            from django.contrib.postgres.expressions import ArraySubquery

            return queryset.filter(Q(text__icontains=value) | EqualsAny(F("finding_id"), ArraySubquery(finding_ids)))
        # Elsewhere (SQLite: no trigram index, every row is read anyway) unite the two sets.
        matches = (
            Measure.objects.filter(text__icontains=value)
            .order_by()
            .values("id")
            .union(Measure.objects.filter(finding_id__in=finding_ids).order_by().values("id"))
        )
        return queryset.filter(pk__in=matches)

    def filter_not_reported(self, queryset: QuerySet[Measure], name: str, value: bool) -> QuerySet[Measure]:
        # 逾期未报 concerns open measures only: a completed measure has nothing left to report.
        if value:
            return queryset.filter(reported_this_period=False, status__in=OPEN_STATUSES)
        return queryset.exclude(Q(reported_this_period=False) & Q(status__in=OPEN_STATUSES))
