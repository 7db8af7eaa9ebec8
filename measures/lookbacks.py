"""Look-back (回头看): re-checking an earlier inspection's completed measures.

A look-back is an Inspection of kind patrol_lookback that `follows_up` the earlier one. When
a completed measure's problem has come back (问题反弹), the office reopens it: a NEW measure in
the look-back, with `reopens` pointing at the original, so the original keeps its completion
and sign-off on record (销号 is final) and the rate of each inspection stays its own. The new
measure sits under a category and finding of the look-back that mirror the original's,
created on first use and shared by every measure reopened from the same finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from accounts.models import Department, User
from findings.models import Category, Finding, Inspection, InspectionKind
from findings.services import category_create, finding_create, inspection_create
from measures.models import COMPLETED_STATUSES, Measure
from measures.permissions import Action, can
from measures.services import measure_create
from measures.signals import ledger_changed


def _require_office(user: User) -> None:
    if not can(user, Action.EDIT_LEDGER):
        raise PermissionDenied(_("您没有权限执行此操作。"))


@transaction.atomic
def lookback_create(
    *,
    original: Inspection,
    user: User,
    title: str,
    source_body: str | None = None,
    inspected_unit: str | None = None,
    onsite_start: date | None = None,
    onsite_end: date | None = None,
    feedback_date: date | None = None,
    deadline: date | None = None,
) -> Inspection:
    """A look-back of `original`; who inspected whom is the original's unless given."""
    _require_office(user)
    return inspection_create(
        kind=InspectionKind.PATROL_LOOKBACK,
        title=title,
        follows_up=original,
        source_body=original.source_body if source_body is None else source_body,
        inspected_unit=original.inspected_unit if inspected_unit is None else inspected_unit,
        deployment=original.deployment,
        onsite_start=onsite_start,
        onsite_end=onsite_end,
        feedback_date=feedback_date,
        deadline=deadline,
    )


def lookback_candidates(lookback: Inspection) -> QuerySet[Measure]:
    """The earlier inspection's completed measures, each annotated with the id of the measure
    that reopened it in this look-back (None while it holds); one query per page."""
    reopened_here = Measure.objects.filter(inspection_id=lookback.pk, reopens=OuterRef("pk")).values("pk")[:1]
    return (
        Measure.objects.filter(inspection_id=lookback.follows_up_id, status__in=COMPLETED_STATUSES)
        .select_related("finding", "category", "lead_department")
        .annotate(reopened_as_id=Subquery(reopened_here))
        .order_by("finding__number", "number", "id")
    )


def _mirrored_finding(lookback: Inspection, original: Measure, user: User) -> Finding:
    """The look-back's finding for `original`'s finding: the one an earlier reopening of the
    same finding used, else one under the mirrored category, created when missing."""
    sibling = (
        Measure.objects.filter(inspection=lookback, reopens__finding_id=original.finding_id)
        .select_related("finding")
        .first()
    )
    if sibling is not None:
        return sibling.finding
    category = _mirrored_category(lookback, original)
    finding = Finding.objects.filter(category=category, description=original.finding.description).first()
    if finding is not None:
        return finding
    return finding_create(category=category, description=original.finding.description, created_by=user)


def _mirrored_category(lookback: Inspection, original: Measure) -> Category:
    sibling = (
        Measure.objects.filter(inspection=lookback, reopens__category_id=original.category_id)
        .select_related("category")
        .first()
    )
    if sibling is not None:
        return sibling.category
    # A category the office created by hand under the same title is the same category.
    same_title = Category.objects.filter(inspection=lookback, title=original.category.title).order_by("order").first()
    if same_title is not None:
        return same_title
    return category_create(inspection=lookback, title=original.category.title)


@transaction.atomic
def measure_reopen(
    *,
    original_measure: Measure,
    lookback: Inspection,
    user: User,
    text: str = "",
    lead_department: Department | None = None,
    deadline: date | None = None,
) -> Measure:
    """问题反弹: a new measure in `lookback` that reopens `original_measure`.

    The text, lead department and deadline default to the original's text and department and
    the look-back's overall deadline.
    """
    _require_office(user)
    # The look-back's row lock queues two people reopening at once, so a measure is reopened
    # once and a mirrored category or finding is created once.
    lookback = Inspection.objects.select_for_update().get(pk=lookback.pk)
    original = Measure.objects.select_related("finding", "category", "lead_department").get(pk=original_measure.pk)
    if lookback.follows_up_id is None or original.inspection_id != lookback.follows_up_id:
        raise ValidationError(_("该措施不属于本次回头看所对应的原检查。"))
    if original.status not in COMPLETED_STATUSES:
        raise ValidationError(_("只有已完成整改的措施才能标记为问题反弹。"))
    if Measure.objects.filter(inspection=lookback, reopens=original).exists():
        raise ValidationError(_("该措施已在本次回头看中标记为问题反弹。"))
    deadline = deadline or lookback.deadline
    if deadline is None:
        raise ValidationError({"deadline": _("请填写整改时限。")})
    finding = _mirrored_finding(lookback, original, user)
    finding.inspection = lookback  # measure_create reads the feedback date from it
    measure = measure_create(
        finding=finding,
        text=text.strip() or original.text,
        lead_department=lead_department or original.lead_department,
        deadline=deadline,
        target=original.target,
        kind=original.kind,
        owner=original.owner,
        responsible_leader=original.responsible_leader,
        reopens=original,
    )
    measure_ids = [measure.pk]
    transaction.on_commit(lambda: ledger_changed.send(sender=Measure, measure_ids=measure_ids))
    return measure


@dataclass(frozen=True)
class ReopenLink:
    """One reopening, as the inspection pages show it."""

    original: Measure
    reopening: Measure


def reopen_links(inspection: Inspection, *, has_lookbacks: bool) -> tuple[list[ReopenLink], list[ReopenLink]]:
    """(this inspection's measures reopened by a look-back, the earlier measures this look-back
    reopened), in one query; none when the inspection has no look-back and follows up nothing."""
    if not has_lookbacks and inspection.follows_up_id is None:
        return [], []
    rows = (
        Measure.objects.filter(reopens__isnull=False)
        .filter(Q(reopens__inspection_id=inspection.pk) | Q(inspection_id=inspection.pk))
        .select_related("finding", "inspection", "reopens", "reopens__finding", "reopens__inspection")
        .order_by("reopens__finding__number", "reopens__number", "id")
    )
    reopened_here: list[ReopenLink] = []
    reopening_here: list[ReopenLink] = []
    for measure in rows:
        link = ReopenLink(original=measure.reopens, reopening=measure)  # type: ignore[arg-type]
        if measure.reopens.inspection_id == inspection.pk:  # type: ignore[union-attr]
            reopened_here.append(link)
        if measure.inspection_id == inspection.pk:
            reopening_here.append(link)
    return reopened_here, reopening_here
