"""Reads for the dashboard pages.

Two sources, chosen per scope:

- the whole bureau reads the `Figure` rows the recompute job keeps (one small query per
  breakdown, whatever the size of the ledger);
- one department's dashboard groups that department's measures live, since the figures
  hold per-department totals but no department × inspection breakdown. A department leads
  a few percent of the ledger, and the groups run on the (lead_department, …) indexes.

Either way a breakdown row is a `Figure` (unsaved for live rows), so pages compute rates
the one way `measures.rates` defines. Lists of measures (overdue, due soon, open) are
always live and always LIMITed; their totals come from the figures.

Every function here issues a fixed number of queries; tests pin the page totals.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.models import Department, User
from dashboards.models import DailySnapshot, Figure, ScopeKind
from findings.models import Category, Finding, Inspection
from measures.models import COMPLETED_STATUSES, OPEN_STATUSES, Measure, MeasureStatus, ProgressReport

# Rows in each breakdown; the page links to the full list (ledger or inspections) for the rest.
INSPECTION_ROWS = 15
CATEGORY_ROWS = 10
LIST_ROWS = 20
TREND_DAYS = 90


@dataclass
class Row:
    """One line of a breakdown: what it counts (kind, id), how to name it, its counts."""

    kind: str
    id: int
    label: str
    figure: Figure
    sublabel: str = ""
    # Filled in by the view: the ledger URL of each count, and the row's table cells (HTML).
    links: dict[str, str] = field(default_factory=dict)
    cells: str = ""

    @property
    def open(self) -> int:
        """Measures not yet completed (the ledger's open statuses)."""
        return self.figure.measures - self.figure.completed


@dataclass
class Dashboard:
    """What /dashboard/ reads on every request: the scope, the headline and the live lists."""

    department: Department | None
    headline: Figure | None
    selected_inspection: Inspection | None
    overdue: list[Measure]
    due_soon: list[Measure]
    # Live rows have no findings counts: a finding cuts across departments.
    live: bool


@dataclass
class Breakdowns:
    """The breakdowns and the trend of a dashboard. For the whole bureau they come from the
    figures alone, so the page can keep them rendered until the next recompute
    (dashboards.fragments)."""

    inspections: list[Row]
    inspection_total: int | None
    categories: list[Row]
    departments: list[Row]
    leaders: list[Row]
    trend: list[DailySnapshot]


# --- Counting live ---------------------------------------------------------------------


def _live_counts() -> dict[str, Count]:
    # The same predicates as the recompute job's SQL (dashboards.services) and as the
    # ledger filters the numbers link to; prefixed so they never clash with Measure fields.
    return {
        "n_measures": Count("id"),
        "n_completed": Count("id", filter=Q(status__in=COMPLETED_STATUSES)),
        "n_signed_off": Count("id", filter=Q(status=MeasureStatus.SIGNED_OFF)),
        "n_overdue": Count("id", filter=Q(is_overdue=True)),
        "n_due_soon": Count("id", filter=Q(is_due_soon=True)),
        "n_not_reported": Count("id", filter=Q(status__in=OPEN_STATUSES, reported_this_period=False)),
    }


def _figure_from_live(values: dict, kind: str, scope_id: int) -> Figure:
    return Figure(
        scope_kind=kind,
        scope_id=scope_id,
        measures=values["n_measures"],
        completed=values["n_completed"],
        signed_off=values["n_signed_off"],
        overdue=values["n_overdue"],
        due_soon=values["n_due_soon"],
        not_reported=values["n_not_reported"],
    )


# --- Figures ---------------------------------------------------------------------------


def scope_figure(kind: str, scope_id: int = 0) -> Figure | None:
    return Figure.objects.filter(scope_kind=kind, scope_id=scope_id).first()


def _figures_by_id(kind: str, ids: list[int]) -> dict[int, Figure]:
    return {f.scope_id: f for f in Figure.objects.filter(scope_kind=kind, scope_id__in=ids)}


def _empty_figure(kind: str, scope_id: int) -> Figure:
    # An inspection created after the last recompute has no figure yet: it shows zeros
    # until the next run rather than disappearing from the page.
    return Figure(scope_kind=kind, scope_id=scope_id)


def inspection_rows(*, department_id: int | None, limit: int = INSPECTION_ROWS) -> tuple[list[Row], int | None]:
    """The most recent inspections (by feedback date) with their counts, and how many
    there are (None for a department: counting them would read all its measures)."""
    kind = ScopeKind.INSPECTION
    recent_first = Inspection.objects.order_by(F("feedback_date").desc(nulls_first=True), "-id")
    if department_id is None:
        recent = list(recent_first.values("id", "title")[:limit])
        figures = _figures_by_id(kind, [i["id"] for i in recent])
        rows = [Row(kind, i["id"], i["title"], figures.get(i["id"]) or _empty_figure(kind, i["id"])) for i in recent]
        return rows, Inspection.objects.count()
    # Two steps, each an index walk: the department's most recent inspections (the
    # inspections in date order, each probed on (lead_department, inspection)), then
    # the counts of its measures in just those. Grouping all of a department's measures
    # first would read tens of thousands of rows to show fifteen.
    led = Measure.objects.filter(inspection_id=OuterRef("pk"), lead_department_id=department_id)
    recent = list(recent_first.filter(Exists(led)).values("id", "title")[:limit])
    counts = {
        g["inspection_id"]: g
        for g in Measure.objects.filter(lead_department_id=department_id, inspection_id__in=[i["id"] for i in recent])
        .order_by()
        .values("inspection_id")
        .annotate(**_live_counts())
    }
    rows = [Row(kind, i["id"], i["title"], _figure_from_live(counts[i["id"]], kind, i["id"])) for i in recent]
    return rows, None


def category_rows(*, department_id: int | None, inspection_id: int | None, limit: int = CATEGORY_ROWS) -> list[Row]:
    """The categories of one inspection in the notice's order, or else the `limit`
    categories with the most unfinished measures across the ledger."""
    kind = ScopeKind.CATEGORY
    if department_id is None:
        if inspection_id is not None:
            categories = list(
                Category.objects.filter(inspection_id=inspection_id).order_by("order").values("id", "order", "title")
            )
            figures = _figures_by_id(kind, [c["id"] for c in categories])
            return [
                Row(kind, c["id"], f"{c['order']}. {c['title']}", figures.get(c["id"]) or _empty_figure(kind, c["id"]))
                for c in categories
            ]
        # Ordered by the figure rows themselves (tens of thousands of categories at a
        # province's scale), then named in a second query that reads `limit` rows.
        top = list(
            Figure.objects.filter(scope_kind=kind)
            .annotate(open_measures=F("measures") - F("completed"))
            .filter(open_measures__gt=0)
            .order_by("-open_measures", "scope_id")[:limit]
        )
        names = {
            c["id"]: c
            for c in Category.objects.filter(id__in=[f.scope_id for f in top]).values(
                "id", "title", "inspection__title"
            )
        }
        return [
            Row(
                kind,
                f.scope_id,
                names.get(f.scope_id, {}).get("title", ""),
                f,
                sublabel=names.get(f.scope_id, {}).get("inspection__title", ""),
            )
            for f in top
        ]
    # A department's categories are shown for one inspection only: the top categories of
    # all its measures would group tens of thousands of rows on every page view.
    if inspection_id is None:
        return []
    grouped = (
        Measure.objects.filter(lead_department_id=department_id, inspection_id=inspection_id)
        .order_by()
        .values("category_id", "category__title", "category__order")
        .annotate(**_live_counts())
        .order_by("category__order")
    )
    return [
        Row(
            kind,
            g["category_id"],
            f"{g['category__order']}. {g['category__title']}",
            _figure_from_live(g, kind, g["category_id"]),
        )
        for g in grouped
    ]


def department_ranking() -> list[Row]:
    """Every department with figures, best completion rate first, fewer overdue breaking ties."""
    kind = ScopeKind.DEPARTMENT
    name = Department.objects.filter(pk=OuterRef("scope_id")).values("name")[:1]
    figures = (
        Figure.objects.filter(scope_kind=kind)
        .annotate(
            name=Subquery(name),
            rate=Case(
                When(measures=0, then=Value(None)),
                default=Cast("completed", FloatField()) / Cast("measures", FloatField()),
                output_field=FloatField(),
            ),
        )
        .order_by(F("rate").desc(nulls_last=True), "overdue", "name")
    )
    return [Row(kind, f.scope_id, f.name or "", f) for f in figures]


def leader_rows() -> list[Row]:
    """Every responsible leader with figures. Whole bureau only: a department's measures
    by leader would group all of them live, and a department answers to one or two."""
    kind = ScopeKind.LEADER
    leader = User.objects.filter(pk=OuterRef("scope_id"))
    figures = (
        Figure.objects.filter(scope_kind=kind)
        .annotate(
            name=Coalesce(
                Subquery(leader.exclude(full_name="").values("full_name")[:1]),
                Subquery(leader.values("username")[:1]),
            ),
            title=Subquery(leader.values("title")[:1]),
        )
        .order_by("name", "scope_id")
    )
    return [Row(kind, f.scope_id, f.name or "", f, sublabel=f.title or "") for f in figures]


# --- Lists of measures -----------------------------------------------------------------


def _list_rows(measures: QuerySet[Measure]) -> QuerySet[Measure]:
    return measures.select_related("inspection", "finding", "lead_department", "responsible_leader").only(
        "id",
        "number",
        "text",
        "deadline",
        "status",
        "is_overdue",
        "is_due_soon",
        "inspection__id",
        "inspection__title",
        "finding__id",
        "finding__number",
        "lead_department__id",
        "lead_department__name",
        "responsible_leader__id",
        "responsible_leader__full_name",
        "responsible_leader__username",
    )


def _scoped(measures: QuerySet[Measure], department_id: int | None) -> QuerySet[Measure]:
    return measures if department_id is None else measures.filter(lead_department_id=department_id)


def overdue_measures(*, department_id: int | None, limit: int = LIST_ROWS) -> list[Measure]:
    """Oldest deadline first. The partial index on (deadline) WHERE is_overdue (migration
    dashboards 0003) reads these `limit` rows without sorting every overdue measure."""
    rows = _scoped(Measure.objects.filter(is_overdue=True), department_id).order_by("deadline", "id")
    return list(_list_rows(rows)[:limit])


def due_soon_measures(*, department_id: int | None, limit: int = LIST_ROWS) -> list[Measure]:
    rows = _scoped(Measure.objects.filter(is_due_soon=True), department_id).order_by("deadline", "id")
    return list(_list_rows(rows)[:limit])


def open_measures_of_inspection(
    *, inspection_id: int, department_id: int | None, limit: int = LIST_ROWS
) -> tuple[list[Measure], int]:
    rows = _scoped(Measure.objects.filter(inspection_id=inspection_id, status__in=OPEN_STATUSES), department_id)
    return list(_list_rows(rows.order_by("deadline", "id"))[:limit]), rows.count()


def open_findings_of_inspection(*, inspection_id: int, department_id: int | None) -> list[Finding]:
    """Findings not yet rectified (整改到位: every measure signed off), with live counts
    of the measures in scope. An inspection holds tens of findings, so this is bounded."""
    scope = Q() if department_id is None else Q(measures__lead_department_id=department_id)
    findings = (
        Finding.objects.filter(inspection_id=inspection_id)
        .select_related("category")
        .annotate(
            all_measures=Count("measures"),
            all_signed_off=Count("measures", filter=Q(measures__status=MeasureStatus.SIGNED_OFF)),
            n_measures=Count("measures", filter=scope),
            n_completed=Count("measures", filter=scope & Q(measures__status__in=COMPLETED_STATUSES)),
            n_overdue=Count("measures", filter=scope & Q(measures__is_overdue=True)),
        )
        .filter(Q(all_measures=0) | ~Q(all_signed_off=F("all_measures")))
        .order_by("number")
    )
    if department_id is not None:
        findings = findings.filter(n_measures__gt=0)
    return list(findings)


# --- Trend -----------------------------------------------------------------------------


def trend(*, kind: str, scope_id: int, today: date, days: int = TREND_DAYS) -> list[DailySnapshot]:
    return list(
        DailySnapshot.objects.filter(scope_kind=kind, scope_id=scope_id, day__gt=today - timedelta(days=days))
        .order_by("day")
        .only("day", "measures", "completed", "signed_off")
    )


# --- Pages -----------------------------------------------------------------------------


def dashboard_for(*, department_id: int | None, inspection_id: int | None) -> Dashboard:
    """The per-request part of /dashboard/, for the whole bureau (department_id None) or one department."""
    department = Department.objects.filter(pk=department_id).first() if department_id is not None else None
    if department is None:
        department_id = None
    if department_id is None:
        headline = scope_figure(ScopeKind.OVERALL)
    else:
        headline = scope_figure(ScopeKind.DEPARTMENT, department_id)
    selected = None
    if inspection_id is not None:
        selected = Inspection.objects.filter(pk=inspection_id).only("id", "title").first()
    return Dashboard(
        department=department,
        headline=headline,
        selected_inspection=selected,
        overdue=overdue_measures(department_id=department_id),
        due_soon=due_soon_measures(department_id=department_id),
        live=department_id is not None,
    )


def breakdowns_for(dashboard: Dashboard, *, today: date) -> Breakdowns:
    """The breakdowns and trend of a dashboard read by dashboard_for."""
    department_id = dashboard.department.pk if dashboard.department else None
    selected = dashboard.selected_inspection
    inspections, inspection_total = inspection_rows(department_id=department_id)
    if department_id is None:
        snapshot_kind, snapshot_id = ScopeKind.OVERALL, 0
    else:
        snapshot_kind, snapshot_id = ScopeKind.DEPARTMENT, department_id
    return Breakdowns(
        inspections=inspections,
        inspection_total=inspection_total,
        categories=category_rows(department_id=department_id, inspection_id=selected.pk if selected else None),
        departments=department_ranking() if department_id is None else [],
        leaders=leader_rows() if department_id is None else [],
        trend=trend(kind=snapshot_kind, scope_id=snapshot_id, today=today),
    )


@dataclass
class InspectionDashboard:
    inspection: Inspection
    department: Department | None
    headline: Figure
    categories: list[Row]
    findings: list[Finding]
    open_measures: list[Measure]
    open_measure_total: int
    lookbacks: list[Row]
    live: bool


def inspection_dashboard_for(*, inspection_id: int, department_id: int | None) -> InspectionDashboard:
    """One inspection in the shape of its notice; Inspection.DoesNotExist if there is none."""
    inspection = (
        Inspection.objects.select_related("follows_up")
        .only("id", "title", "kind", "source_body", "feedback_date", "deadline", "follows_up__id", "follows_up__title")
        .get(pk=inspection_id)
    )
    department = Department.objects.filter(pk=department_id).first() if department_id is not None else None
    if department is None:
        department_id = None
    kind = ScopeKind.INSPECTION
    if department_id is None:
        headline = scope_figure(kind, inspection_id) or _empty_figure(kind, inspection_id)
    else:
        counts = Measure.objects.filter(inspection_id=inspection_id, lead_department_id=department_id).aggregate(
            **_live_counts()
        )
        headline = _figure_from_live(counts, kind, inspection_id)
    lookbacks = list(inspection.lookbacks.order_by("feedback_date", "id").values("id", "title"))
    lookback_figures = _figures_by_id(kind, [lb["id"] for lb in lookbacks])
    open_measures, open_total = open_measures_of_inspection(inspection_id=inspection_id, department_id=department_id)
    return InspectionDashboard(
        inspection=inspection,
        department=department,
        headline=headline,
        categories=category_rows(department_id=department_id, inspection_id=inspection_id),
        findings=open_findings_of_inspection(inspection_id=inspection_id, department_id=department_id),
        open_measures=open_measures,
        open_measure_total=open_total,
        lookbacks=[
            Row(kind, lb["id"], lb["title"], lookback_figures.get(lb["id"]) or _empty_figure(kind, lb["id"]))
            for lb in lookbacks
        ],
        live=department_id is not None,
    )


def departments_for_choice() -> list[Department]:
    return list(Department.objects.only("id", "name").order_by("order", "name"))


def figures_stale_since(computed_at: datetime | None, *, now: datetime | None = None) -> datetime | None:
    """When the figures first fell behind the ledger after they were computed, if they have
    been behind longer than FIGURES_STALE_AFTER_SECONDS without a recompute; otherwise None.

    Every change queues a recompute seconds after its commit, so a change older than that
    with no recompute since means the queue or the worker is down (Redis unreachable, a
    worker killed): the page says its figures may be stale. Read from the history tables
    rather than from a flag the failing enqueue would write, because that write could fail
    too, and so that a dead worker is noticed as well; the recompute writes no history, so
    a run clears the note by itself.

    What moves the figures:
    - a measure's own columns: every service writes a Measure history row;
    - a progress report (本期未汇报): `progress_report_add` updates the measure with a bare
      UPDATE and no history row of the measure, but the report's own history row (added,
      edited or deleted, in the admin too) is there;
    - the date: at midnight measures become overdue or due soon and a reporting period may
      start, with no row written at all; the after-midnight beat tick recomputes them.

    Two index lookups (history_date is indexed on both history tables) and no query for
    the date, whatever the size of the ledger. `now` is for tests (a fixed clock).
    """
    if computed_at is None:
        return None
    changes = [
        history.filter(history_date__gt=computed_at).aggregate(first=Min("history_date"))["first"]
        for history in (Measure.history, ProgressReport.history)
    ]
    next_midnight = timezone.make_aware(datetime.combine(timezone.localdate(computed_at) + timedelta(days=1), time()))
    now = now or timezone.now()
    if next_midnight <= now:
        changes.append(next_midnight)
    first = min((c for c in changes if c is not None), default=None)
    if first is not None and now - first > timedelta(seconds=settings.FIGURES_STALE_AFTER_SECONDS):
        return first
    return None
