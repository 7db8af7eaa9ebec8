"""The notice (整改落实情况通报): figures counted from the ledger, document 002's sentences,
Chinese ordinals, the .docx and .txt downloads, the office's edits and the query count."""

import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal

import docx
import pytest
from django.urls import reverse
from django.utils import timezone

from findings.models import Category, Finding, InspectionKind, InspectionOutcome, OutcomeKind
from measures.models import COMPLETED_STATUSES, Measure, MeasureStatus
from notices.builder import build_notice, figure_errors, notice_blocks
from notices.document import notice_docx
from tests.factories import DepartmentFactory, InspectionFactory, MeasureFactory

pytestmark = pytest.mark.django_db

S = MeasureStatus
TODAY = dt.date(2022, 7, 28)


def _status_fields(status: str, user) -> dict:
    now = timezone.now()
    fields: dict = {"status": status}
    if status in COMPLETED_STATUSES:
        fields["completed_at"] = now
    if status in (S.REVIEWED, S.SIGNED_OFF):
        fields.update(reviewed_at=now, reviewed_by=user)
    if status == S.SIGNED_OFF:
        fields.update(signed_off_at=now, signed_off_by=user)
    return fields


def build_ledger(*, categories: int, findings: int, measures_per_finding: int, open_measures: int, user, **inspection):
    """An inspection of the given shape, bulk-created: findings spread over the categories in
    order, measures cycling through the completed statuses, the last `open_measures` open."""
    defaults = {
        "kind": InspectionKind.PATROL_LOOKBACK,
        "deployment": "市委统一",
        "onsite_start": dt.date(2021, 9, 23),
        "onsite_end": dt.date(2021, 11, 30),
        "feedback_date": dt.date(2022, 1, 14),
        "deadline": dt.date(2022, 6, 30),
    }
    insp = InspectionFactory(**{**defaults, **inspection})
    department = DepartmentFactory(name="社会事务处")
    cats = Category.objects.bulk_create(
        Category(inspection=insp, order=i, title=f"方面{i}") for i in range(1, categories + 1)
    )
    found = Finding.objects.bulk_create(
        Finding(inspection=insp, category=cats[(n - 1) * categories // findings], number=n, description=f"问题{n}")
        for n in range(1, findings + 1)
    )
    total = findings * measures_per_finding
    completed_cycle = [S.COMPLETED, S.REVIEWED, S.SIGNED_OFF]
    rows = []
    for index in range(total):
        finding = found[index // measures_per_finding]
        status = S.IN_PROGRESS if index >= total - open_measures else completed_cycle[index % 3]
        rows.append(
            Measure(
                finding=finding,
                inspection=insp,
                category_id=finding.category_id,
                number=index % measures_per_finding + 1,
                text=f"措施{index + 1}",
                result=f"成效{index + 1}。" if index % 2 == 0 else "",
                lead_department=department,
                owner="张三",
                deadline=dt.date(2022, 6, 30),
                **_status_fields(status, user),
            )
        )
    Measure.objects.bulk_create(rows)
    return insp


@pytest.fixture
def ledger_002(office_user):
    """Document 002's ledger: 14 categories, 29 problems, 145 measures, 144 completed."""
    insp = build_ledger(categories=14, findings=29, measures_per_finding=5, open_measures=1, user=office_user)
    for kind, counts in (
        (OutcomeKind.CRITICISED, (1, 1)),
        (OutcomeKind.REMINDER_TALK, (6,)),
        (OutcomeKind.REGULATION_NEW, (10, 3)),
        (OutcomeKind.REGULATION_REVISED, (14,)),
    ):
        for count in counts:
            InspectionOutcome.objects.create(inspection=insp, kind=kind, count=count)
    return insp


def test_notice_of_document_002s_ledger_says_99_31_percent_in_its_sentences(ledger_002):
    measures = Measure.objects.filter(inspection=ledger_002)
    total = measures.count()
    completed = measures.filter(status__in=COMPLETED_STATUSES).count()
    findings = Finding.objects.filter(inspection=ledger_002).count()
    rate = (Decimal(completed) * 100 / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert (findings, total, completed, str(rate)) == (29, 145, 144, "99.31")

    notice = build_notice(ledger_002, today=TODAY)

    assert notice.totals_sentence == (
        f"针对市委第一巡察组反馈的{findings}个问题,制定{total}条整改措施,已完成整改{completed}条措施,"
        f"整改完成率{rate}%;尚未整改到位1个问题(1条整改措施)。"
    )
    assert "整改完成率99.31%" in notice.totals_sentence
    assert (
        notice.outcomes_sentence
        == "在整改中,批评教育2人,提醒谈话6人,建章立制27项,其中新制定制度13项,修订完善制度14项。"
    )
    assert notice.opening.startswith(
        "根据市委统一部署,2021年9月23日至11月30日,市委第一巡察组对市民政局党组开展了巡察“回头看”。"
        "2022年1月14日,市委第一巡察组向市民政局党组反馈了巡察“回头看”意见。"
    )
    text = notice.as_text()
    assert notice.totals_sentence + notice.outcomes_sentence in text
    assert text.splitlines()[-2:] == ["市民政局党组", "2022年7月28日"]


def test_category_paragraphs_use_results_or_measure_text_with_chinese_ordinals(ledger_002):
    notice = build_notice(ledger_002, today=TODAY)
    paragraphs = notice.category_paragraphs
    assert len(paragraphs) == 14
    assert paragraphs[0].startswith("(一)关于“方面1”问题的整改情况。一是成效1。二是措施2。三是成效3。")
    assert paragraphs[10].startswith("(十一)关于“方面11”问题的整改情况。一是")
    assert paragraphs[13].startswith("(十四)关于“方面14”")
    # The first category holds findings 1-3 (3 × 5 measures): clauses run to 十五.
    assert "十五是" in paragraphs[0] and "十六是" not in paragraphs[0]


def test_ordinals_run_past_twenty(office_user):
    insp = build_ledger(categories=21, findings=21, measures_per_finding=21, open_measures=0, user=office_user)
    notice = build_notice(insp, today=TODAY)
    assert notice.category_paragraphs[20].startswith("(二十一)关于“方面21”")
    assert (
        "二十一是措施441。" in notice.category_paragraphs[20] or "二十一是成效441。" in notice.category_paragraphs[20]
    )
    assert notice.totals_sentence.endswith("整改完成率100.00%;反馈问题已全部整改到位。")
    assert notice.open_items == []


def test_open_measures_are_listed_with_deadline_and_owner(ledger_002):
    notice = build_notice(ledger_002, today=TODAY)
    assert notice.open_items == [
        "1.第29号问题第5条措施:措施145。责任单位:社会事务处,责任人:张三,整改时限:2022年6月30日(已超期)。"
    ]
    lines = notice.lines()
    assert "三、尚未整改到位的问题" in lines


def test_missing_inspection_fields_leave_their_clause_out(office_user):
    insp = InspectionFactory(
        kind=InspectionKind.AUDIT, source_body="", inspected_unit="", deployment="", feedback_date=None, deadline=None
    )
    notice = build_notice(insp, today=TODAY)
    assert notice.opening == "开展了审计。反馈了审计意见。现将整改落实情况通报如下:"
    assert notice.totals_sentence == "针对反馈的0个问题,尚未制定整改措施。"
    assert notice.outcomes_sentence == ""
    assert notice.title == "关于审计整改落实情况的通报"


def test_zero_outcome_kinds_are_left_out(office_user):
    insp = build_ledger(categories=1, findings=1, measures_per_finding=1, open_measures=0, user=office_user)
    InspectionOutcome.objects.create(inspection=insp, kind=OutcomeKind.REMINDER_TALK, count=3)
    InspectionOutcome.objects.create(inspection=insp, kind=OutcomeKind.REGULATION_REVISED, count=2)
    assert build_notice(insp).outcomes_sentence == "在整改中,提醒谈话3人,建章立制2项,其中修订完善制度2项。"


def test_docx_opens_with_the_totals_sentence_fonts_and_page_numbers(ledger_002):
    notice = build_notice(ledger_002, today=TODAY)
    document = docx.Document(io.BytesIO(notice_docx(notice.as_text())))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == notice.title
    assert any(notice.totals_sentence in t for t in texts)
    assert "(十四)关于“方面14”问题的整改情况。" in "".join(texts)
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    east_asian = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia"
    normal_fonts = document.styles["Normal"].element.rPr.rFonts
    assert normal_fonts.get(east_asian) == "仿宋"
    title_fonts = document.paragraphs[0].style.element.rPr.rFonts
    assert title_fonts.get(east_asian) == "黑体"
    assert document.paragraphs[1].paragraph_format.first_line_indent is not None
    assert "PAGE" in section.footer._element.xml


def test_notice_blocks_read_headings_leads_and_signature():
    blocks = notice_blocks(
        "标题\n开头。\n一、总体情况\n(二)关于“X”问题的整改情况。一是做了。\n市民政局党组\n2022年7月28日\n"
    )
    assert [b.kind for b in blocks] == ["title", "paragraph", "heading", "paragraph", "signature", "signature"]
    assert blocks[3].lead == "(二)关于“X”问题的整改情况。" and blocks[3].text == "一是做了。"
    assert notice_blocks("") == []


def test_every_role_reads_and_downloads_the_notice(client, ledger_002, staff_user):
    client.force_login(staff_user)
    page = client.get(reverse("notices:notice", args=[ledger_002.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "整改完成率99.31%" in html
    assert 'name="text"' not in html  # staff read; the office edits

    txt = client.get(reverse("notices:notice_txt", args=[ledger_002.pk]))
    assert txt.status_code == 200 and txt["Content-Type"].startswith("text/plain")
    assert "attachment" in txt["Content-Disposition"]
    body = txt.content.decode("utf-8-sig")
    assert build_notice(ledger_002).totals_sentence in body

    response = client.get(reverse("notices:notice_docx", args=[ledger_002.pk]))
    assert response.status_code == 200
    document = docx.Document(io.BytesIO(response.content))
    assert any("整改完成率99.31%" in p.text for p in document.paragraphs)


def test_anonymous_users_are_sent_to_log_in(client, ledger_002):
    response = client.get(reverse("notices:notice_docx", args=[ledger_002.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_office_downloads_its_edited_wording_with_the_ledger_figures(client, ledger_002, office_user):
    client.force_login(office_user)
    page = client.get(reverse("notices:notice", args=[ledger_002.pk]))
    generated = page.context["form"].initial["text"]
    edited = generated.replace("现将整改落实情况通报如下:", "根据巡察工作要求,现将整改落实情况通报如下:")
    response = client.post(reverse("notices:notice", args=[ledger_002.pk]), {"text": edited, "format": "docx"})
    assert response.status_code == 200
    texts = [p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs]
    assert any("根据巡察工作要求,现将整改落实情况通报如下:" in t for t in texts)
    assert any("整改完成率99.31%" in t for t in texts)

    response = client.post(reverse("notices:notice", args=[ledger_002.pk]), {"text": edited, "format": "txt"})
    assert "根据巡察工作要求" in response.content.decode("utf-8-sig")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("整改完成率99.31%", "整改完成率100%"),
        ("已完成整改144条措施", "已完成整改145条措施"),
        ("批评教育2人", "批评教育1人"),
    ],
)
def test_an_edited_figure_is_refused_with_the_text_kept(client, ledger_002, office_user, old, new):
    client.force_login(office_user)
    generated = build_notice(ledger_002).as_text()
    assert old in generated
    edited = generated.replace(old, new)
    response = client.post(reverse("notices:notice", args=[ledger_002.pk]), {"text": edited, "format": "docx"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "通报中的数字必须与台账一致" in html
    assert new in html  # the office's text is still in the editor
    assert build_notice(ledger_002).totals_sentence in html  # and the sentence to paste back


def test_a_second_completion_rate_must_be_the_ledgers_too(ledger_002):
    text = build_notice(ledger_002).as_text() + "全年整改完成率100%。\n"
    assert figure_errors(text, ledger_002) == ["通报中写的“整改完成率100%”与台账计算的整改完成率(99.31%)不一致。"]
    assert figure_errors(build_notice(ledger_002).as_text(), ledger_002) == []


def test_figures_follow_the_ledger_not_the_text_shown_earlier(ledger_002, office_user):
    text = build_notice(ledger_002).as_text()
    open_measure = Measure.objects.get(inspection=ledger_002, status=S.IN_PROGRESS)
    Measure.objects.filter(pk=open_measure.pk).update(**_status_fields(S.COMPLETED, office_user))
    errors = figure_errors(text, ledger_002)
    assert errors and "整改完成率100.00%;反馈问题已全部整改到位。" in errors[0]


def test_only_the_office_posts_edits(client, ledger_002, leader_user):
    client.force_login(leader_user)
    text = build_notice(ledger_002).as_text()
    response = client.post(reverse("notices:notice", args=[ledger_002.pk]), {"text": text, "format": "txt"})
    assert response.status_code == 403


def test_unknown_inspection_is_404(client, office_user):
    client.force_login(office_user)
    assert client.get(reverse("notices:notice", args=[999999])).status_code == 404


@pytest.mark.parametrize(("categories", "findings", "per_finding"), [(2, 3, 2), (14, 29, 5)])
def test_notice_query_count_does_not_grow_with_the_ledger(
    client, office_user, categories, findings, per_finding, django_assert_max_num_queries
):
    insp = build_ledger(
        categories=categories, findings=findings, measures_per_finding=per_finding, open_measures=2, user=office_user
    )
    # A measure here reopens an earlier one, and one here is reopened by a later look-back,
    # so both look-back queries return rows.
    finding = Finding.objects.filter(inspection=insp).select_related("category").first()
    earlier = MeasureFactory(status=S.IN_PROGRESS)
    MeasureFactory(finding=finding, inspection=insp, category=finding.category, number=99, reopens=earlier)
    reopened_here = Measure.objects.filter(inspection=insp).first()
    MeasureFactory(reopens=reopened_here)
    client.force_login(office_user)
    # session, user, the user's groups (role), the inspection, then the notice's seven: finding,
    # measure and outcome aggregates, categories, measure rows, measures reopened elsewhere.
    with django_assert_max_num_queries(11):
        response = client.get(reverse("notices:notice", args=[insp.pk]))
    assert response.status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("notices:notice_docx", args=[insp.pk])).status_code == 200
