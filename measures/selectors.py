"""Reads for the ledger and the measure page; each owns its joins so templates never
touch a relation that was not fetched."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import Department
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
    # diff_against would read each row's assisting departments with two queries per pair of
    # rows; one query for them all, compared here as sets.
    snapshot = Measure.history.model.assisting_departments.model  # type: ignore[attr-defined]
    assisting: dict[int, set[int]] = {record.history_id: set() for record in records}  # type: ignore[attr-defined]
    for history_id, department_id in snapshot.objects.filter(measure_id=measure.pk).values_list(
        "history_id", "department_id"
    ):
        assisting.setdefault(history_id, set()).add(department_id)
    raw: list[tuple[object, list[tuple[str, object, object]]]] = []
    related_ids: dict[type, set[object]] = {}
    previous = None
    for record in records:
        if previous is None:
            raw.append((record, []))
        else:
            delta = record.diff_against(previous, excluded_fields=["assisting_departments"])  # type: ignore[attr-defined]
            changes = [(c.field, c.old, c.new) for c in delta.changes if c.field != "version"]
            old_set, new_set = assisting[previous.history_id], assisting[record.history_id]  # type: ignore[attr-defined]
            if old_set != new_set:
                changes.append(("assisting_departments", old_set, new_set))
            for name, old, new in changes:
                field = Measure._meta.get_field(name)
                if field.many_to_many:
                    related_ids.setdefault(Department, set()).update(old | new)  # type: ignore[operator]
                elif field.is_relation and field.related_model is not None:
                    related_ids.setdefault(field.related_model, set()).update(v for v in (old, new) if v)
            if changes:
                raw.append((record, changes))
        previous = record
    names = {
        model: {obj.pk: str(obj) for obj in model._default_manager.filter(pk__in=ids)}
        for model, ids in related_ids.items()
    }

    def shown(name: str, value: object) -> str:
        if value is None or value == "":
            return ""
        field = Measure._meta.get_field(name)
        if field.many_to_many:
            departments = names.get(Department, {})
            shown_names = sorted(departments.get(pk, str(pk)) for pk in value)  # type: ignore[attr-defined]
            return pgettext("list separator", "、").join(shown_names)
        if getattr(field, "choices", None):
            return str(dict(field.choices).get(value, value))  # type: ignore[arg-type]
        if field.is_relation and field.related_model is not None:
            return names.get(field.related_model, {}).get(value, str(value))
        return str(value)

    entries: list[dict[str, object]] = []
    for record, changes in raw:
        if not changes:
            shown_changes = [(_("创建措施"), "", str(record.text)[:60])]  # type: ignore[attr-defined]
        else:
            shown_changes = [
                (str(Measure._meta.get_field(n).verbose_name), shown(n, old), shown(n, new)) for n, old, new in changes
            ]
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
