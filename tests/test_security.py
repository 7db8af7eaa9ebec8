"""Security in production: headers, login throttling, sessions, uploads, the audit trail.

The per-department permission sweep over every URL is in tests/test_object_permissions.py;
the production settings themselves (`check --deploy`) in tests/test_deploy.py.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from measures import services
from measures.models import DecisionAction, Evidence, Measure, MeasureDecision, MeasureStatus, ProgressReport
from rectify.common.security import STRICT_POLICY
from tests.factories import DepartmentFactory, MeasureFactory, make_user
from tests.measures.test_evidence_types import SAMPLES

pytestmark = pytest.mark.django_db

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory's


# --- Content-Security-Policy ----------------------------------------------------------------


def _directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_every_page_gets_a_policy_that_allows_no_outside_origin(client, office_user):
    client.force_login(office_user)
    for url in (reverse("login"), reverse("measures:ledger"), reverse("dashboards:dashboard"), "/healthz"):
        header = client.get(url)["Content-Security-Policy"]
        assert header == STRICT_POLICY, url
        for source in _directives(header).values():
            # Only keywords and our own origin: no host, scheme or wildcard anywhere.
            assert all(token.startswith("'") or token == "data:" for token in source.split()), source
    policy = _directives(STRICT_POLICY)
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


def test_the_api_docs_page_is_as_strict_as_the_rest(client, office_user):
    # Swagger UI's start-up script is served from a URL of its own (the split view), so the
    # docs need no 'unsafe-inline'; tests/browser/test_csp_browser.py shows the page runs.
    client.force_login(office_user)
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    assert docs["Content-Security-Policy"] == STRICT_POLICY
    assert _inline_code(docs.content.decode()) == []
    script = client.get(reverse("api:docs") + "?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


def _inline_code(html: str) -> list[str]:
    found = [m.group(0) for m in INLINE_HANDLER.finditer(html)]
    found += [m.group(0) for m in SCRIPT_TAG.finditer(html) if "src=" not in m.group(1)]
    found += re.findall(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", html, re.I)
    return found


def test_no_template_has_inline_script_or_event_handlers():
    offenders = {
        str(path.relative_to(TEMPLATES_DIR)): _inline_code(path.read_text(encoding="utf-8"))
        for path in TEMPLATES_DIR.rglob("*.html")
    }
    assert {name: code for name, code in offenders.items() if code} == {}


def test_rendered_pages_have_no_inline_script(client, office_user, department, leader_user):
    # Pages also carry HTML built in Python (the SVG charts, the breakdown cells).
    measure = MeasureFactory(lead_department=department, responsible_leader=leader_user)
    client.force_login(office_user)
    for url in (
        reverse("dashboards:dashboard"),
        reverse("dashboards:inspection", args=[measure.inspection_id]),
        reverse("measures:ledger"),
        reverse("measures:detail", args=[measure.pk]),
        reverse("findings:inspection_detail", args=[measure.inspection_id]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _inline_code(response.content.decode()) == [], url


# --- Login throttling (django-axes) -----------------------------------------------------------


def _login(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_lock_that_user_at_that_address_with_a_chinese_message(client, staff_user):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    for _ in range(limit - 1):
        response = _login(client, staff_user.username, "wrong")
        assert response.status_code == 200  # the form again, with its error
    locked = _login(client, staff_user.username, "wrong")
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "登录已暂时锁定" in html and "15 分钟" in html
    assert "registration/lockout.html" in [t.name for t in locked.templates]
    # Now even the right password is refused, and no session is made.
    response = _login(client, staff_user.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_user_and_address(client, staff_user, other_staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, staff_user.username, "wrong", ip="10.0.0.1")
    assert _login(client, staff_user.username, PASSWORD, ip="10.0.0.1").status_code == 429
    # A colleague at the same desk, and the same user at another desk, still log in.
    assert _login(client, other_staff_user.username, PASSWORD, ip="10.0.0.1").status_code == 302
    client.logout()
    assert _login(client, staff_user.username, PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, staff_user):
    cool_off = settings.AXES_COOLOFF_TIME
    assert cool_off == timedelta(minutes=15)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, staff_user.username, "wrong")
    assert _login(client, staff_user.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, staff_user.username, PASSWORD).status_code == 302


def _spray(client, failures: int, ip: str = "10.0.0.9") -> None:
    """`failures` wrong passwords from one address, a few per username: never the five
    that lock one user at one address."""
    per_username = settings.AXES_FAILURE_LIMIT - 1
    for n in range(failures):
        assert _login(client, f"guess{n // per_username}", "wrong", ip=ip).status_code == 200


def test_one_address_trying_many_usernames_is_locked_out_with_its_own_message(client, staff_user):
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    assert limit == 30
    _spray(client, limit)
    locked = _login(client, staff_user.username, PASSWORD, ip="10.0.0.9")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    html = locked.content.decode()
    assert 'data-testid="address-locked"' in html and "来自该地址的登录已暂时锁定" in html
    # Another address is not affected; the cool-off ends it.
    assert _login(client, staff_user.username, PASSWORD, ip="10.0.0.10").status_code == 302
    client.logout()
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, staff_user.username, PASSWORD, ip="10.0.0.9").status_code == 302


def test_an_office_behind_one_address_keeps_logging_in_below_the_address_limit(client, staff_user):
    _spray(client, settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1)
    assert _login(client, staff_user.username, PASSWORD, ip="10.0.0.9").status_code == 302


def test_a_successful_login_clears_earlier_failures(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, staff_user.username, "wrong")
    assert _login(client, staff_user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, staff_user.username, "wrong")
    assert _login(client, staff_user.username, PASSWORD).status_code == 302


def test_logins_from_code_are_not_throttled(client, staff_user):
    # force_login and the test client's login() never pass through the login form.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, staff_user.username, "wrong", ip="127.0.0.1")
    assert client.login(username=staff_user.username, password=PASSWORD)
    client.logout()
    client.force_login(staff_user)
    assert client.get(reverse("measures:ledger")).status_code == 200


def test_behind_a_proxy_failures_count_by_the_address_the_proxy_saw(client, settings, staff_user):
    settings.NUM_PROXIES = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client forges the left part; only the entry our proxy appended counts.
        client.post(
            reverse("login"),
            {"username": staff_user.username, "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 192.0.2.7",
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.7"}


# --- Passwords and sessions -----------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "short", "password123", "t_staff-2024"])
def test_weak_passwords_are_refused(staff_user, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=staff_user)


def test_a_strong_password_is_accepted(staff_user):
    validate_password("整改台账-Qv7#mLw2-Zk9", user=staff_user)


def test_the_session_ends_when_the_browser_closes_and_after_eight_hours(client, staff_user):
    response = _login(client, staff_user.username, PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    # No Expires / Max-Age: a browser session cookie, gone with the browser.
    assert not cookie["expires"] and not cookie["max-age"]
    assert cookie["httponly"]
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert client.session.get_expire_at_browser_close()


# --- Uploads are never run or shown inline ------------------------------------------------------

EVIDENCE_FILES = [
    ("整改通知.pdf", "pdf", "application/pdf"),
    ("现场照片.png", "png", "image/png"),
    ("现场照片.jpg", "jpeg", "image/jpeg"),
    ("会议纪要.docx", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("台账.xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("旧版纪要.doc", "ole2", "application/msword"),
    ("旧版台账.xls", "ole2", "application/vnd.ms-excel"),
]


@pytest.mark.parametrize(("name", "sample", "content_type"), EVIDENCE_FILES)
def test_evidence_is_served_as_an_attachment_of_its_detected_type(
    client, settings, tmp_path, department, staff_user, name, sample, content_type
):
    settings.MEDIA_ROOT = tmp_path
    measure = MeasureFactory(lead_department=department, status=MeasureStatus.IN_PROGRESS)
    content = SAMPLES[sample]()
    client.force_login(staff_user)
    # The browser claims HTML: the stored and served type comes from the bytes, not from it.
    upload = SimpleUploadedFile(name, content, content_type="text/html")
    response = client.post(reverse("measures:evidence_add", args=[measure.pk]), {"title": "材料", "file": upload})
    assert response.status_code == 302
    evidence = Evidence.objects.get(measure=measure)
    download = client.get(reverse("measures:evidence_download", args=[evidence.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == content_type
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Security-Policy"] == STRICT_POLICY
    assert b"".join(download.streaming_content) == content
    # Stored under a name of ours, never the uploader's.
    assert Path(evidence.file.name).suffix.lstrip(".") in {name.rsplit(".", 1)[-1]}
    assert name.rsplit(".", 1)[0] not in evidence.file.name


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("page.pdf", b"<html><script>alert(1)</script></html>"),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
    ],
)
def test_scripts_and_markup_are_refused_as_evidence(client, settings, tmp_path, department, staff_user, name, content):
    settings.MEDIA_ROOT = tmp_path
    measure = MeasureFactory(lead_department=department, status=MeasureStatus.IN_PROGRESS)
    client.force_login(staff_user)
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    response = client.post(reverse("measures:evidence_add", args=[measure.pk]), {"title": "材料", "file": upload})
    assert response.status_code == 400
    assert not Evidence.objects.exists()
    assert not any(tmp_path.rglob("*.*"))


def test_media_files_have_no_url_of_their_own(client, settings, tmp_path, department, staff_user):
    # Evidence is only reachable through the download view that checks permissions.
    settings.MEDIA_ROOT = tmp_path
    measure = MeasureFactory(lead_department=department, status=MeasureStatus.IN_PROGRESS)
    evidence = services.evidence_add(
        measure=measure,
        user=staff_user,
        title="照片",
        uploaded_file=SimpleUploadedFile("p.png", SAMPLES["png"](), content_type="image/png"),
    )
    client.force_login(staff_user)
    assert client.get(settings.MEDIA_URL + evidence.file.name).status_code == 404


# --- The audit trail cannot be edited ----------------------------------------------------------


@pytest.fixture
def superuser(db):
    return make_user(Role.OFFICE, username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def signed_off(department, leader_user, office_user, staff_user, settings, tmp_path):
    """A measure taken all the way through the services: progress, evidence, completion,
    review and sign-off, so it has history rows and decisions."""
    settings.MEDIA_ROOT = tmp_path
    measure = MeasureFactory(lead_department=department, responsible_leader=leader_user, status="in_progress")
    services.progress_report_add(measure=measure, user=staff_user, text="已召开专题会议")
    services.evidence_add(
        measure=measure,
        user=staff_user,
        title="会议纪要",
        uploaded_file=SimpleUploadedFile("p.png", SAMPLES["png"](), content_type="image/png"),
    )
    services.measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status="completed", result="已建立制度", expected_version=1
    )
    services.measure_review(measure_id=measure.pk, user=leader_user, passed=True)
    services.measure_sign_off(measure_id=measure.pk, user=office_user, passed=True, comment="材料齐全")
    measure.refresh_from_db()
    assert measure.status == MeasureStatus.SIGNED_OFF
    return measure


def _audit_rows(measure: Measure) -> dict[str, object]:
    return {
        "measure": Measure.objects.filter(pk=measure.pk).values().get(),
        "history": list(measure.history.values_list("history_id", "status", "version", "history_change_reason")),
        "decisions": list(MeasureDecision.objects.filter(measure=measure).values()),
        "progress": list(ProgressReport.objects.filter(measure=measure).values()),
        "progress_history": ProgressReport.history.filter(measure_id=measure.pk).count(),
        "evidence": list(Evidence.objects.filter(measure=measure).values()),
    }


def test_history_models_are_not_in_the_admin():
    registered = {model.__name__ for model in admin.site._registry}
    assert not {name for name in registered if name.startswith("Historical")}


@pytest.mark.parametrize("model_name", ["measure", "progressreport", "evidence", "extension", "measuredecision"])
def test_the_admin_shows_measures_and_their_records_read_only(client, superuser, signed_off, model_name):
    client.force_login(superuser)
    before = _audit_rows(signed_off)
    changelist = client.get(reverse(f"admin:measures_{model_name}_changelist"))
    assert changelist.status_code == 200
    assert client.get(reverse(f"admin:measures_{model_name}_add")).status_code == 403
    assert client.post(reverse(f"admin:measures_{model_name}_add"), {"text": "x"}).status_code == 403
    from measures import models

    model = {m._meta.model_name: m for m in models.__dict__.values() if hasattr(m, "_meta")}[model_name]
    obj = model.objects.filter(**({"pk": signed_off.pk} if model is Measure else {"measure": signed_off})).first()
    if obj is not None:
        change = client.get(reverse(f"admin:measures_{model_name}_change", args=[obj.pk]))
        assert change.status_code == 200  # to look at
        assert 'name="_save"' not in change.content.decode()
        response = client.post(reverse(f"admin:measures_{model_name}_change", args=[obj.pk]), {"status": "in_progress"})
        assert response.status_code == 403
        assert (
            client.post(reverse(f"admin:measures_{model_name}_delete", args=[obj.pk]), {"post": "yes"}).status_code
            == 403
        )
    assert _audit_rows(signed_off) == before


def test_the_admin_history_view_shows_old_versions_but_never_reverts(client, superuser, signed_off):
    client.force_login(superuser)
    before = _audit_rows(signed_off)
    history = client.get(reverse("admin:measures_measure_history", args=[signed_off.pk]))
    assert history.status_code == 200
    first = signed_off.history.earliest("history_date")
    url = reverse("admin:measures_measure_simple_history", args=[signed_off.pk, first.history_id])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # simple_history's "Revert" button
    # POSTing the old version back, as simple_history's revert button would, is refused.
    response = client.post(url, {"status": first.status, "text": first.text, "version": first.version})
    assert response.status_code == 403
    assert _audit_rows(signed_off) == before


def test_inspections_categories_and_findings_cannot_be_deleted_in_the_admin(client, superuser, signed_off):
    client.force_login(superuser)
    before = _audit_rows(signed_off)
    for name, pk in [
        ("inspection", signed_off.inspection_id),
        ("category", signed_off.category_id),
        ("finding", signed_off.finding_id),
    ]:
        response = client.post(reverse(f"admin:findings_{name}_delete", args=[pk]), {"post": "yes"})
        assert response.status_code == 403, name
    assert _audit_rows(signed_off) == before


def test_the_api_has_no_way_to_write_history_or_decisions(client, office_user, signed_off):
    client.force_login(office_user)
    before = _audit_rows(signed_off)
    from tests.test_object_permissions import app_patterns

    api = [p for p in app_patterns() if p.name and p.name.startswith("api:")]
    assert api
    for pattern in api:
        kwargs = {name: signed_off.pk if name == "pk" else "json" for name in pattern.kwargs}
        url = reverse(pattern.name, kwargs=kwargs)
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(
                url, {"status": "in_progress", "comment": "撤销销号"}, content_type="application/json"
            )
            assert response.status_code in (403, 404, 405), (method, url, response.status_code)
    assert _audit_rows(signed_off) == before


# --- A sign-off is final ----------------------------------------------------------------------


def test_no_page_changes_a_signed_off_measure(client, signed_off, staff_user, leader_user, office_user, superuser):
    # The one way back is the office's return with a reason (退回已销号), on record as a
    # decision and a history row (tests/measures/test_workflow_views.py): here it is tried
    # without a reason by everyone, and with one by those who may not return.
    before = _audit_rows(signed_off)
    with_reason = {"comment": "撤销销号", "version": signed_off.version}
    posts = {
        "set_status": {"new_status": "in_progress", "result": "撤销", "version": signed_off.version},
        "progress_add": {"reported_on": "2022-03-01", "text": "销号后补充"},
        "evidence_add": {"title": "补充材料", "document_number": "温民办〔2022〕99号"},
        "extension_request": {"new_deadline": "2030-01-01", "reason": "延期"},
        "review": {"decision": "return", "comment": "重新审核", "version": signed_off.version},
        "sign_off": {"decision": "return", "comment": "撤销销号", "version": signed_off.version},
        "edit": {"text": "改写", "version": signed_off.version},
        "return_signed_off": {"comment": "", "version": signed_off.version},
    }
    for user in (staff_user, leader_user, office_user, superuser):
        client.force_login(user)
        for name, data in posts.items():
            response = client.post(reverse(f"measures:{name}", args=[signed_off.pk]), data)
            assert response.status_code in (400, 403, 409), (user.username, name, response.status_code)
        if user in (staff_user, leader_user):
            response = client.post(reverse("measures:return_signed_off", args=[signed_off.pk]), with_reason)
            assert response.status_code == 403, user.username
        batch = client.post(
            reverse("measures:ledger_batch"), {"action": "sign_off", "measure_ids": [signed_off.pk], "comment": "x"}
        )
        assert batch.status_code == 302
    assert _audit_rows(signed_off) == before


def test_the_only_way_back_is_a_return_with_a_reason_on_record(client, department, leader_user, office_user):
    # Before sign-off the office may return a reviewed measure; it takes a reason, and the
    # return is a decision row and a history row of its own.
    measure = MeasureFactory(
        lead_department=department,
        responsible_leader=leader_user,
        status=MeasureStatus.REVIEWED,
        completed_at=timezone.now(),
        reviewed_at=timezone.now(),
        reviewed_by=leader_user,
    )
    client.force_login(office_user)
    url = reverse("measures:sign_off", args=[measure.pk])
    without_reason = client.post(url, {"decision": "return", "comment": "", "version": measure.version})
    assert without_reason.status_code == 400
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.REVIEWED
    response = client.post(url, {"decision": "return", "comment": "佐证材料不全", "version": measure.version})
    assert response.status_code == 302
    measure.refresh_from_db()
    assert measure.status == MeasureStatus.RETURNED
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.decided_by, decision.comment) == (
        DecisionAction.SIGN_OFF_RETURN,
        office_user,
        "佐证材料不全",
    )
    latest = measure.history.latest("history_date")
    assert latest.history_user == office_user and "佐证材料不全" in latest.history_change_reason


def test_staff_of_another_department_cannot_start_a_reopening(client, signed_off):
    # A signed-off measure comes back only as a new measure (问题反弹) made by the office.
    other = make_user(Role.STAFF, DepartmentFactory(name="办公室"), username="clerk_other")
    client.force_login(other)
    assert client.get(reverse("measures:detail", args=[signed_off.pk])).status_code == 403
