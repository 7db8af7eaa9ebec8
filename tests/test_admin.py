"""The admin site as the rectification office uses it: a member of the office group, not a
superuser. tests/test_security.py checks what the admin refuses even a superuser."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import user_sync_admin_access
from devdata.demo import demo_load
from findings.models import Inspection
from measures.models import Measure
from tests.factories import CategoryFactory, FindingFactory, InspectionFactory, MeasureFactory, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def office_admin(office_user):
    user_sync_admin_access(user=office_user)
    assert office_user.is_staff and not office_user.is_superuser
    return office_user


@pytest.fixture
def admin_client(client, office_admin):
    client.force_login(office_admin)
    return client


def post_data(response, **fields):
    """What the change page's form would post: the inlines' management forms, and `fields`."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    return {**data, **fields}


def test_office_admin_index_lists_the_ledger_structure_and_the_users(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    models = {
        (app["app_label"], model["object_name"]): model["perms"]
        for app in response.context["app_list"]
        for model in app["models"]
    }
    editable = [
        ("findings", "Inspection"),
        ("findings", "Category"),
        ("findings", "Finding"),
        ("findings", "InspectionOutcome"),
        ("accounts", "Department"),
        ("accounts", "User"),
    ]
    for key in editable:
        assert models[key] == {"add": True, "change": True, "delete": False, "view": True}, key
    for name in ["Measure", "ProgressReport", "Evidence", "Extension", "MeasureDecision"]:
        assert models["measures", name] == {"add": False, "change": False, "delete": False, "view": True}, name
    assert ("auth", "Group") not in models


def test_inspection_page_shows_its_findings_inline(admin_client):
    inspection = InspectionFactory()
    findings = [
        FindingFactory(category__inspection=inspection, inspection=inspection, description=f"协调机制不完善{i}")
        for i in range(2)
    ]
    response = admin_client.get(reverse("admin:findings_inspection_change", args=[inspection.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for finding in findings:
        assert finding.description in html
        assert reverse("admin:findings_finding_change", args=[finding.pk]) in html


def test_office_moves_a_finding_in_the_admin_and_its_measures_follow(admin_client):
    finding = FindingFactory()
    new_category = CategoryFactory(inspection=finding.inspection)
    measure = MeasureFactory(finding=finding, text="建立健全临时救助制度")
    url = reverse("admin:findings_finding_change", args=[finding.pk])
    page = admin_client.get(url)
    assert "建立健全临时救助制度" in page.content.decode()  # the read-only measures inline

    response = admin_client.post(
        url,
        post_data(
            page,
            inspection=InspectionFactory().pk,  # fixed once created: ignored
            category=new_category.pk,
            number=finding.number,
            description="协调机制不完善(已修改)",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    finding.refresh_from_db()
    measure.refresh_from_db()
    assert (finding.description, finding.category_id, finding.inspection_id) == (
        "协调机制不完善(已修改)",
        new_category.pk,
        new_category.inspection_id,
    )
    assert measure.category_id == new_category.pk


def test_admin_refuses_a_finding_in_another_inspections_category(admin_client):
    finding = FindingFactory()
    elsewhere = CategoryFactory()
    url = reverse("admin:findings_finding_change", args=[finding.pk])
    response = admin_client.post(
        url,
        post_data(admin_client.get(url), category=elsewhere.pk, number=finding.number, description="x"),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["category"] == ["问题类别必须属于同一检查。"]
    finding.refresh_from_db()
    assert finding.category_id != elsewhere.pk


def test_admin_refuses_a_feedback_date_past_measures_deadlines(admin_client):
    inspection = InspectionFactory(feedback_date=dt.date(2022, 1, 10))
    MeasureFactory(
        finding__category__inspection=inspection, finding__inspection=inspection, deadline=dt.date(2022, 3, 31)
    )
    url = reverse("admin:findings_inspection_change", args=[inspection.pk])
    response = admin_client.post(
        url,
        post_data(admin_client.get(url), kind="patrol", title=inspection.title, feedback_date="2022-04-01"),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["feedback_date"] == [
        "已有 1 条整改措施的时限早于该反馈日期,请先调整这些措施的时限。"
    ]
    inspection.refresh_from_db()
    assert inspection.feedback_date == dt.date(2022, 1, 10)


def test_measure_admin_page_is_read_only_for_the_office(admin_client):
    measure = MeasureFactory(text="建立健全临时救助制度")
    url = reverse("admin:measures_measure_change", args=[measure.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "建立健全临时救助制度" in html
    assert 'name="_save"' not in html
    assert admin_client.post(url, {"status": "completed"}).status_code == 403
    assert admin_client.get(reverse("admin:measures_measure_add")).status_code == 403
    measure.refresh_from_db()
    assert measure.status == "not_started"


@pytest.mark.parametrize("fixture", ["staff_user", "leader_user", "auditor_user"])
def test_other_roles_get_no_admin_access(client, request, fixture):
    user = request.getfixturevalue(fixture)
    user_sync_admin_access(user=user)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def user_form(user: User, **fields):
    joined = timezone.localtime(user.date_joined)
    return {
        "username": user.username,
        "full_name": user.full_name,
        "is_active": "on",
        "date_joined_0": joined.date().isoformat(),
        "date_joined_1": joined.time().strftime("%H:%M:%S"),
        **fields,
    }


def test_the_role_set_in_the_admin_decides_admin_access(admin_client):
    clerk = make_user(Role.STAFF, username="t_clerk")
    url = reverse("admin:accounts_user_change", args=[clerk.pk])
    office, auditor = Group.objects.get(name=Role.OFFICE.value), Group.objects.get(name=Role.AUDITOR.value)

    assert admin_client.post(url, user_form(clerk, groups=[office.pk])).status_code == 302
    clerk.refresh_from_db()
    assert clerk.is_staff

    assert admin_client.post(url, user_form(clerk, groups=[auditor.pk], is_staff="on")).status_code == 302
    clerk.refresh_from_db()
    assert not clerk.is_staff


def test_office_cannot_grant_superuser_status_or_change_a_superuser(admin_client, office_admin):
    url = reverse("admin:accounts_user_change", args=[office_admin.pk])
    office = Group.objects.get(name=Role.OFFICE.value)
    response = admin_client.post(url, user_form(office_admin, groups=[office.pk], is_superuser="on"))
    assert response.status_code == 302
    office_admin.refresh_from_db()
    assert not office_admin.is_superuser

    root = make_user(Role.OFFICE, username="root", is_superuser=True, is_staff=True)
    assert admin_client.post(reverse("admin:accounts_user_change", args=[root.pk]), user_form(root)).status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[root.pk])
    assert admin_client.post(password_url, {"password1": "x" * 12, "password2": "x" * 12}).status_code == 403


def test_the_admin_speaks_english_when_asked(admin_client):
    FindingFactory()
    admin_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = admin_client.get(reverse("admin:findings_finding_changelist")).content.decode()
    assert "Finding description" in html


def test_the_demo_office_user_can_use_the_admin(client, settings):
    demo_load(today=dt.date(2024, 5, 15))
    assert list(User.objects.filter(is_staff=True).values_list("username", flat=True)) == ["office"]
    assert client.login(username="office", password=settings.DEMO_PASSWORD)
    assert client.get(reverse("admin:index")).status_code == 200
    assert Inspection.objects.exists() and Measure.objects.exists()
