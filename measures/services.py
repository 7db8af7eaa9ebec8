"""Writes for measures: creation now; status, progress, evidence, review and sign-off follow."""

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Department
from findings.models import Finding
from findings.services import earliest_allowed_deadline
from measures.models import Measure


@transaction.atomic
def measure_create(
    *,
    finding: Finding,
    text: str,
    lead_department: Department,
    deadline: date,
    number: int | None = None,
    assisting_departments: Iterable[Department] = (),
    **fields: object,
) -> Measure:
    earliest = earliest_allowed_deadline(finding.inspection)
    if earliest is not None and deadline < earliest:
        raise ValidationError(
            {"deadline": _("整改时限不能早于检查反馈日期(%(date)s)。") % {"date": earliest.isoformat()}}
        )
    if number is None:
        last = finding.measures.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
    measure = Measure(
        finding=finding,
        inspection_id=finding.inspection_id,
        category_id=finding.category_id,
        number=number,
        text=text,
        lead_department=lead_department,
        deadline=deadline,
        **fields,
    )
    measure.full_clean()
    measure.save()
    assisting = [d for d in assisting_departments if d.pk != lead_department.pk]
    if assisting:
        measure.assisting_departments.set(assisting)
    return measure
