"""Writes for inspections, categories and findings."""

from datetime import date

from django.db import transaction

from findings.models import Category, Finding, Inspection


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


def earliest_allowed_deadline(inspection: Inspection) -> date | None:
    """A measure cannot be due before the feedback that asked for it."""
    return inspection.feedback_date


def _update(obj, fields: dict[str, object]):  # type: ignore[no-untyped-def]
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save(update_fields=list(fields))
    return obj


@transaction.atomic
def inspection_update(*, inspection: Inspection, **fields: object) -> Inspection:
    return _update(inspection, fields)


@transaction.atomic
def category_update(*, category: Category, **fields: object) -> Category:
    return _update(category, fields)


@transaction.atomic
def finding_update(*, finding: Finding, **fields: object) -> Finding:
    if "category" in fields and fields["category"].inspection_id != finding.inspection_id:  # type: ignore[attr-defined]
        from django.core.exceptions import ValidationError

        raise ValidationError({"category": "问题类别必须属于同一检查。"})
    return _update(finding, fields)
