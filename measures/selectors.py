"""Reads for the ledger and the measure page; each owns its joins so templates never
touch a relation that was not fetched."""

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from measures.history import HistoryNames, assisting_departments_by_record, record_changes, shown_change
from measures.models import Evidence, Extension, Measure, MeasureDecision, ProgressReport


def ledger_rows(measures: QuerySet[Measure]) -> QuerySet[Measure]:
    """Ledger rows with everything the master ledger shows, in a fixed number of queries.

    Latest progress and evidence count are correlated subqueries rather than GROUP BY joins,
    so they cost one index probe per row shown, not a scan of the whole evidence table.
    """
    latest_progress = ProgressReport.objects.filter(measure=OuterRef("pk")).order_by("-reported_on", "-id")
    evidence_count = (
        Evidence.objects.filter(measure=OuterRef("pk")).order_by().values("measure").annotate(n=Count("id")).values("n")
    )
    return measures.select_related(
        "inspection", "category", "finding", "lead_department", "responsible_leader", "signed_off_by"
    ).annotate(
        latest_progress=Subquery(latest_progress.values("text")[:1]),
        latest_progress_on=Subquery(latest_progress.values("reported_on")[:1]),
        evidence_count=Coalesce(Subquery(evidence_count, output_field=IntegerField()), Value(0)),
    )


def ledger_default_order(measures: QuerySet[Measure]) -> QuerySet[Measure]:
    # Findings are created in number order, so finding_id follows the ledger's 问题编号
    # and the sort can use the (finding, number) unique index.
    return measures.order_by("inspection_id", "finding_id", "number")


def measure_for_page(measure_id: int) -> Measure:
    """One measure with everything its page shows, or Measure.DoesNotExist."""
    return (
        Measure.objects.select_related(
            "inspection",
            "category",
            "finding",
            "lead_department",
            "responsible_leader",
            "reviewed_by",
            "signed_off_by",
            "reopens",
        )
        .prefetch_related(
            "assisting_departments",
            Prefetch("progress_reports", ProgressReport.objects.select_related("author")),
            Prefetch("evidence", Evidence.objects.select_related("uploaded_by")),
            Prefetch("extensions", Extension.objects.select_related("requested_by", "decided_by")),
            Prefetch("decisions", MeasureDecision.objects.select_related("decided_by")),
        )
        .get(pk=measure_id)
    )


def measure_for_action(measure_id: int) -> Measure:
    """Just what a permission check needs (lead and assisting departments, leader)."""
    return Measure.objects.prefetch_related("assisting_departments").get(pk=measure_id)


def measure_change_log(measure: Measure) -> list[dict[str, object]]:
    """Every recorded change of the measure and of its evidence, newest first.

    Each entry: when, who, reason, changes as (field label, old, new). Bounded by one
    measure's history; the people and departments named in it are read in one query each,
    and the assisting departments of every history row in one more, so the page's query
    count does not grow with the length of the history.
    """
    records = list(measure.history.select_related("history_user").order_by("history_date", "history_id"))
    assisting = assisting_departments_by_record(measure_id=measure.pk)
    raw: list[tuple[object, list[tuple[Any, object, object]]]] = []
    previous: Any = None
    for record in records:
        if previous is None:
            raw.append((record, []))
        else:
            sets = (assisting.get(previous.history_id, set()), assisting.get(record.history_id, set()))
            changes = record_changes(previous, record, assisting=sets)
            if changes:
                raw.append((record, changes))
        previous = record
    names = HistoryNames.of(change for _record, changes in raw for change in changes)

    entries: list[dict[str, object]] = []
    for record, changes in raw:
        if not changes:
            shown_changes = [(_("创建措施"), "", str(record.text)[:60])]  # type: ignore[attr-defined]
        else:
            shown_changes = [shown_change(f, old, new, names) for f, old, new in changes]
        entries.append(
            {
                "when": record.history_date,  # type: ignore[attr-defined]
                "who": record.history_user,  # type: ignore[attr-defined]
                "reason": record.history_change_reason or "",  # type: ignore[attr-defined]
                "changes": shown_changes,
            }
        )
    verbs = {"+": _("上传佐证材料"), "-": _("删除佐证材料"), "~": _("修改佐证材料")}
    for record in Evidence.history.filter(measure_id=measure.pk).select_related("history_user"):
        label = record.title + (f"({record.document_number})" if record.document_number else "")
        entries.append(
            {
                "when": record.history_date,
                "who": record.history_user,
                "reason": "",
                "changes": [(verbs[record.history_type], "", label)],
            }
        )
    entries.sort(key=lambda e: e["when"], reverse=True)  # type: ignore[arg-type,return-value]
    return entries
