"""The audit trail of measures and of their progress, evidence and extensions: how a batch of
history rows is written, and how a recorded change is shown.

Writing. A single object saved with `Model.save()` gets its row from simple_history's own
signal. Anything written with `QuerySet.update()` or `bulk_create` / `bulk_update` (the
services' version-checked saves, batch review and sign-off, the ledger import) records its
rows with `record_history`: one `INSERT … SELECT` from the rows themselves, and for measures one
more for their assisting departments. That is two statements however many rows, where
simple_history's `bulk_create_with_history` builds every historical object in Python and
inserts them in batches (on SQLite a batch per ~30 rows of this width); and the history holds
exactly what the database holds after the write, not what the Python objects said.

Showing. The measure's page, the history CSV, the admin's history pages and the import's
preview of what it will change all show a change as (field label, old text, new text) through
`shown_change`, with the names of the people and departments it mentions read once into
`HistoryNames`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.db import connection, models
from django.db.models import BigIntegerField, CharField, DateTimeField, OuterRef, Subquery, Value
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import Department, User
from measures.models import Measure

ADDED = "+"
CHANGED = "~"

# Bookkeeping, not content: a version bump alone is not a change anyone reads.
BOOKKEEPING_FIELDS = frozenset({"id", "version", "created_at", "updated_at"})


# --- Writing ------------------------------------------------------------------------------------


def _insert_select(model: type[models.Model], names: Sequence[str], source: models.QuerySet[Any]) -> None:
    """INSERT INTO `model` (`names`' columns) SELECT …: `source` yields values in that order."""
    select_sql, params = source.query.sql_with_params()
    quote = connection.ops.quote_name
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in names]
    columns = ", ".join(quote(str(f.column)) for f in fields)
    # Identifiers come from model metadata, values travel as parameters.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) {select_sql}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def change_reason(text: str) -> str | None:
    # simple_history's change-reason column holds 100 characters; the full text of a return
    # reason lives in MeasureDecision, an import's file name on its page.
    return Truncator(text).chars(100) if text else None


def record_assisting_departments_in_history(measure_ids: Sequence[int], *, when: datetime) -> None:
    """Copy the measures' assisting departments, as they are now, onto their history rows dated
    `when` (the newest such row of each measure)."""
    if not measure_ids:
        return  # an IN () has no SQL: Django raises EmptyResultSet rather than run it
    historical = Measure.history.model
    snapshot = historical.assisting_departments.model
    through = Measure.assisting_departments.through
    record = (
        historical.objects.filter(id=OuterRef("measure_id"), history_date=when)
        .order_by("-history_id")
        .values("history_id")[:1]
    )
    source = (
        through.objects.filter(measure_id__in=list(measure_ids))
        .order_by()
        .annotate(_h_record=Subquery(record))
        .values_list("id", "measure_id", "department_id", "_h_record")  # type: ignore[misc]
    )
    _insert_select(snapshot, ("id", "measure", "department", "history"), source)


def record_history(
    model: type[models.Model],
    object_ids: Sequence[int],
    *,
    user: User | AnonymousUser | None,
    when: datetime,
    reason: str = "",
    history_type: str = CHANGED,
) -> None:
    """History rows (`history_type`: ADDED or CHANGED) for rows of `model` just written, copied
    from the rows in one INSERT … SELECT; a measure's assisting departments in one more.

    Call it after the write and, for measures, after their assisting departments are set.
    """
    if not object_ids:
        return
    historical = model.history.model  # type: ignore[attr-defined]
    tracked = list(historical.tracked_fields)
    stamps = {
        "_h_date": Value(when, output_field=DateTimeField()),
        "_h_reason": Value(change_reason(reason), output_field=CharField()),
        "_h_type": Value(history_type, output_field=CharField()),
        "_h_user": Value(getattr(user, "pk", None), output_field=BigIntegerField()),
    }
    source = (
        model._default_manager.filter(pk__in=list(object_ids))
        .order_by()
        .annotate(**stamps)
        .values_list(*(f.attname for f in tracked), *stamps)
    )
    names = [f.name for f in tracked] + ["history_date", "history_change_reason", "history_type", "history_user"]
    _insert_select(historical, names, source)
    if model is Measure:
        record_assisting_departments_in_history(object_ids, when=when)


# --- Showing ------------------------------------------------------------------------------------


class HistoryNames:
    """What a history shows for the ids it stores: people, departments and other rows by name.

    Departments keep their own order (order, then name as the database collates it), so a list
    of them reads as it does on the pages.
    """

    def __init__(self, names: Mapping[type[models.Model], dict[Any, str]]) -> None:
        self._names = {model: dict(by_pk) for model, by_pk in names.items()}

    @classmethod
    def of_people_and_departments(cls) -> HistoryNames:
        """Every user and department (both small tables, read once): for whole-ledger output."""
        people = {
            pk: full_name or username
            for pk, full_name, username in User.objects.values_list("id", "full_name", "username")
        }
        departments = dict(Department.objects.order_by("order", "name").values_list("id", "name"))
        return cls({User: people, Department: departments})

    @classmethod
    def of(cls, changes: Iterable[tuple[models.Field[Any, Any], Any, Any]]) -> HistoryNames:
        """The rows the (field, old, new) `changes` refer to: one query per model named."""
        wanted: dict[type[models.Model], set[Any]] = {}
        for field, old, new in changes:
            related = field.related_model
            if not field.is_relation or not isinstance(related, type):
                continue
            ids = wanted.setdefault(related, set())
            for value in (old, new):
                if field.many_to_many:
                    ids.update(value or ())
                elif value not in (None, ""):
                    ids.add(value)
        names: dict[type[models.Model], dict[Any, str]] = {}
        for related, ids in wanted.items():
            if not ids:
                continue
            rows = related._default_manager.filter(pk__in=ids)
            if related is Department:
                rows = rows.order_by("order", "name")
            names[related] = {row.pk: str(row) for row in rows}
        return cls(names)

    def name(self, model: type[models.Model], pk: Any) -> str:
        return self._names.get(model, {}).get(pk, str(pk))

    def name_list(self, model: type[models.Model], pks: Iterable[Any]) -> str:
        known = self._names.get(model, {})
        rank = {pk: position for position, pk in enumerate(known)}
        ordered = sorted(pks, key=lambda pk: (rank.get(pk, len(rank)), pk))  # one deleted since: last
        return pgettext("list separator", "、").join(known.get(pk, str(pk)) for pk in ordered)


def shown_value(field: models.Field[Any, Any], raw: Any, names: HistoryNames) -> str:
    """A stored value as people read it: labels for choices, names for related rows, local times."""
    if raw is None or raw == "":
        return ""
    related = field.related_model if isinstance(field.related_model, type) else None
    if field.many_to_many and related is not None:
        return names.name_list(related, raw)
    if getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(raw, raw))
    if field.is_relation and related is not None:
        return names.name(related, raw)
    if isinstance(raw, bool):
        return _("是") if raw else _("否")
    if isinstance(raw, datetime):
        return timezone.localtime(raw).strftime("%Y-%m-%d %H:%M")
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw)


def shown_change(field: models.Field[Any, Any], old: Any, new: Any, names: HistoryNames) -> tuple[str, str, str]:
    """One recorded change as (field label, old text, new text)."""
    return (str(field.verbose_name), shown_value(field, old, names), shown_value(field, new, names))


def assisting_departments_by_record(**snapshot_filter: Any) -> dict[int, set[int]]:
    """The assisting departments stored with measures' history rows (those `snapshot_filter`
    selects, e.g. measure_id=…), by history id, in one query."""
    snapshot = Measure.history.model.assisting_departments.model
    by_record: dict[int, set[int]] = {}
    for history_id, department_id in snapshot.objects.filter(**snapshot_filter).values_list(
        "history_id", "department_id"
    ):
        by_record.setdefault(history_id, set()).add(department_id)
    return by_record


def record_changes(
    older: Any, newer: Any, *, assisting: tuple[set[int], set[int]] | None = None
) -> list[tuple[models.Field[Any, Any], Any, Any]]:
    """(field, old, new) for what differs between two consecutive history records of one object,
    bookkeeping left out; stored ids, not objects.

    Many-to-many fields are compared only when given: `assisting` is a measure's assisting
    departments as of `older` and as of `newer`, read by the caller for all its records at
    once (simple_history's diff would read them with two queries per pair of records).
    """
    model = newer.instance_type
    many = [f.name for f in model._meta.many_to_many]
    delta = newer.diff_against(older, excluded_fields=[*many, *BOOKKEEPING_FIELDS])
    changes = [(model._meta.get_field(c.field), c.old, c.new) for c in delta.changes]
    if assisting is not None and assisting[0] != assisting[1]:
        changes.append((Measure._meta.get_field("assisting_departments"), assisting[0], assisting[1]))
    return changes
