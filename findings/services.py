"""Writes for inspections, categories and findings."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from findings.models import Category, Finding, Inspection
from findings.rules import early_deadlines


@transaction.atomic
def inspection_create(*, kind: str, title: str, **fields: object) -> Inspection:
    inspection = Inspection(kind=kind, title=title, **fields)
    inspection.full_clean()
    inspection.save()
    return inspection


@transaction.atomic
def category_create(*, inspection: Inspection, title: str, order: int | None = None) -> Category:
    if order is None:
        last = inspection.categories.order_by("-order").values_list("order", flat=True).first()
        order = (last or 0) + 1
    category = Category(inspection=inspection, title=title, order=order)
    category.full_clean()
    category.save()
    return category


@transaction.atomic
def finding_create(*, category: Category, description: str, number: int | None = None, created_by=None) -> Finding:
    inspection = category.inspection
    if number is None:
        last = inspection.findings.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
    finding = Finding(
        inspection=inspection, category=category, number=number, description=description, created_by=created_by
    )
    finding.full_clean()
    finding.save()
    return finding


def inspection_feedback_date_check(*, inspection: Inspection, feedback_date: date | None) -> None:
    """Refuse a feedback date later than deadlines the inspection's measures already have.

    The rule of `early_deadline_message` is checked when a measure is written; moving the
    feedback date afterwards would leave measures that break it. The admin's form asks this
    too, so that it shows the message on the field instead of failing on save.
    """
    if inspection.pk is None or feedback_date is None:
        return
    # Read from the database: a ModelForm has already put the new date on the instance. An
    # unchanged date is no move, so fixing a title never trips over measures imported with
    # earlier deadlines.
    if Inspection.objects.filter(pk=inspection.pk, feedback_date=feedback_date).exists():
        return
    # Through the reverse relation: findings sits below measures and does not import it.
    early = inspection.measures.filter(early_deadlines(feedback_date)).count()  # type: ignore[attr-defined]
    if early:
        raise ValidationError(
            {
                "feedback_date": ngettext(
                    "已有 %(count)d 条整改措施的时限早于该反馈日期,请先调整这些措施的时限。",
                    "已有 %(count)d 条整改措施的时限早于该反馈日期,请先调整这些措施的时限。",
                    early,
                )
                % {"count": early}
            }
        )


def finding_category_check(*, inspection_id: int, category: Category) -> None:
    """A finding belongs to a category of its own inspection (its measures copy both)."""
    if category.inspection_id != inspection_id:
        raise ValidationError({"category": _("问题类别必须属于同一检查。")})


def _update(obj, fields: dict[str, object]):  # type: ignore[no-untyped-def]
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save(update_fields=list(fields))
    return obj


@transaction.atomic
def inspection_update(*, inspection: Inspection, **fields: object) -> Inspection:
    if "feedback_date" in fields:
        inspection_feedback_date_check(inspection=inspection, feedback_date=fields["feedback_date"])  # type: ignore[arg-type]
    return _update(inspection, fields)


@transaction.atomic
def category_update(*, category: Category, **fields: object) -> Category:
    return _update(category, fields)


@transaction.atomic
def finding_update(*, finding: Finding, **fields: object) -> Finding:
    if "category" in fields:
        finding_category_check(inspection_id=finding.inspection_id, category=fields["category"])  # type: ignore[arg-type]
    _update(finding, fields)
    if "category" in fields:
        # Measures keep a copy of their finding's category for the ledger's filters and the
        # recompute job's GROUP BYs; one UPDATE carries them along, through the reverse
        # relation because findings does not import measures. updated_at is set by hand
        # (update() skips auto_now) so API clients syncing by it see the move. The
        # dashboards learn of it from Finding's post_save, whose update_fields name
        # "category".
        finding.measures.exclude(category_id=finding.category_id).update(  # type: ignore[attr-defined]
            category_id=finding.category_id, updated_at=timezone.now()
        )
    return finding
