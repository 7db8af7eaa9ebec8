"""Rules about a measure that every place writing one applies (the services, the ledger
import), so that they hold the same way whichever door a measure comes in by.
"""

from collections.abc import Iterable
from typing import TypeVar

from django.db import models

DepartmentOrId = TypeVar("DepartmentOrId", models.Model, int)


def _pk(department: models.Model | int | None) -> object:
    return department.pk if isinstance(department, models.Model) else department


def assisting_without_lead(
    assisting: Iterable[DepartmentOrId], *, lead: models.Model | int | None
) -> list[DepartmentOrId]:
    """The assisting departments with the lead department left out, in their given order and
    without repeats: a department leads a measure or assists with it, never both (the ledger
    would count it twice, and its staff would see the measure as both theirs and a helper's).

    Departments may be given as rows or as ids, the lead as either.
    """
    lead_pk = _pk(lead)
    kept: dict[object, DepartmentOrId] = {}
    for department in assisting:
        pk = _pk(department)
        if pk != lead_pk:
            kept.setdefault(pk, department)
    return list(kept.values())
