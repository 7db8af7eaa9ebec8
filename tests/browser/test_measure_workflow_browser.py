"""What a clerk, a leader, the office and an auditor do to one measure, in Chromium."""

import datetime as dt

import pytest

from accounts.models import Role
from measures.models import Measure, MeasureStatus
from tests.browser.conftest import login
from tests.factories import DepartmentFactory, MeasureFactory, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def people(role_groups):
    department = DepartmentFactory(name="社会救助科")
    return {
        "staff": make_user(Role.STAFF, department, username="clerk", full_name="何伟"),
        "leader": make_user(Role.LEADERSHIP, username="chief", full_name="周立新"),
        "office": make_user(Role.OFFICE, username="office1", full_name="吴静"),
        "office2": make_user(Role.OFFICE, username="office2", full_name="郑敏"),
        "auditor": make_user(Role.AUDITOR, username="audit1", full_name="孙丽"),
        "department": department,
    }


def page_for(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    login(page, live_server, username, PASSWORD)
    return page


def status_badge(page) -> str:
    return page.locator("[data-testid=status]").inner_text().strip()


def test_measure_goes_from_clerk_to_leader_to_office_and_auditor_sees_no_controls(
    browser, live_server, people, tmp_path
):
    measure = MeasureFactory(
        lead_department=people["department"],
        responsible_leader=people["leader"],
        status=MeasureStatus.IN_PROGRESS,
        text="建立低保对象动态管理台账",
        deadline=dt.date.today() + dt.timedelta(days=30),
    )
    url = f"{live_server.url}/measures/{measure.pk}/"
    photo = tmp_path / "整改现场.png"
    photo.write_bytes(PNG)

    clerk = page_for(browser, live_server, "clerk")
    clerk.goto(url)
    clerk.fill("#evidence input[name=title]", "整改现场照片")
    clerk.set_input_files("#evidence input[name=file]", str(photo))
    clerk.click("#evidence button[type=submit]")
    assert "整改现场照片" in clerk.locator("[data-testid=evidence-list]").inner_text()
    clerk.select_option("#status select[name=new_status]", "completed")
    clerk.fill("#status textarea[name=result]", "台账已建立并每月更新")
    clerk.click("#status button[type=submit]")
    assert status_badge(clerk) == "已完成"

    leader = page_for(browser, live_server, "chief")
    leader.goto(url)
    leader.click("#review button[value=pass]")
    assert status_badge(leader) == "已审核"

    office = page_for(browser, live_server, "office1")
    office.goto(url)
    office.fill("#sign-off textarea[name=comment]", "佐证齐全,同意销号")
    office.click("#sign-off button[value=pass]")
    assert status_badge(office) == "已销号"

    auditor = page_for(browser, live_server, "audit1")
    auditor.goto(url)
    assert status_badge(auditor) == "已销号"
    assert auditor.locator("aside form").count() == 0
    assert auditor.get_by_text("编辑措施").count() == 0
    history = auditor.locator("[data-testid=history]").inner_text()
    assert "周立新" in history and "吴静" in history and "何伟" in history
    saved = Measure.objects.get(pk=measure.pk)
    assert (saved.signed_off_by_id, saved.reviewed_by_id) == (people["office"].pk, people["leader"].pk)


def test_second_editor_is_told_what_changed_and_keeps_what_they_typed(browser, live_server, people):
    measure = MeasureFactory(lead_department=people["department"], owner="李明")
    edit_url = f"{live_server.url}/measures/{measure.pk}/edit/"
    first = page_for(browser, live_server, "office1")
    second = page_for(browser, live_server, "office2")
    first.goto(edit_url)
    second.goto(edit_url)

    first.fill("input[name=owner]", "王芳")
    first.click("main form button[type=submit]")
    first.wait_for_url(f"{live_server.url}/measures/{measure.pk}/")

    second.fill("textarea[name=target]", "我填写的整改目标")
    second.click("main form button[type=submit]")
    conflict = second.locator("[data-testid=conflict]")
    assert "其他人已修改了这条措施" in conflict.inner_text()
    assert "王芳" in conflict.inner_text()
    assert second.input_value("textarea[name=target]") == "我填写的整改目标"
    assert Measure.objects.get(pk=measure.pk).owner == "王芳"
    assert Measure.objects.get(pk=measure.pk).target == ""
