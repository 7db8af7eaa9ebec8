"""All test factories in one place."""

import datetime as dt

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Department, Role, User
from findings.models import Category, Finding, Inspection, InspectionKind
from measures.models import Measure, MeasureStatus


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"科室{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs: object) -> None:
        if create and extracted:
            # Transactional tests flush the data migration's groups, so create them on demand.
            self.groups.add(Group.objects.get_or_create(name=extracted.value)[0])


def make_user(role: Role, department: Department | None = None, **kwargs: object) -> User:
    return UserFactory(role=role, department=department, **kwargs)


class InspectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inspection

    kind = InspectionKind.PATROL
    title = factory.Sequence(lambda n: f"市委第{n}巡察组巡察")
    source_body = "市委第一巡察组"
    inspected_unit = "市民政局党组"
    feedback_date = dt.date(2022, 1, 10)
    deadline = dt.date(2022, 6, 30)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    inspection = factory.SubFactory(InspectionFactory)
    order = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"类别{n}")


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    category = factory.SubFactory(CategoryFactory)
    inspection = factory.SelfAttribute("category.inspection")
    number = factory.Sequence(lambda n: n + 1)
    description = factory.Sequence(lambda n: f"问题描述{n}")


class MeasureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Measure

    finding = factory.SubFactory(FindingFactory)
    inspection = factory.SelfAttribute("finding.inspection")
    category = factory.SelfAttribute("finding.category")
    number = factory.Sequence(lambda n: n + 1)
    text = factory.Sequence(lambda n: f"整改措施{n}")
    lead_department = factory.SubFactory(DepartmentFactory)
    deadline = dt.date(2022, 6, 30)
    status = MeasureStatus.NOT_STARTED


def completed_fields(user: User) -> dict[str, object]:
    """Field values a signed-off measure needs to satisfy the database constraints."""
    now = timezone.now()
    return {
        "status": MeasureStatus.SIGNED_OFF,
        "completed_at": now,
        "reviewed_at": now,
        "reviewed_by": user,
        "signed_off_at": now,
        "signed_off_by": user,
    }
