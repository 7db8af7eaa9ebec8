"""The notice (整改落实情况通报) of an inspection, written from its ledger.

Every figure in a notice is counted from Measure, Finding and InspectionOutcome rows when the
notice is built: never copied from a document (document 002 prints 99.13% for 144 of 145) and
never read from the Figure table, which the recompute job may not have refreshed yet.

A notice costs the same seven queries whatever the size of the ledger: the inspection, one
aggregate each for findings, measures and outcomes, the categories, the measure rows and the
measures a look-back reopened. The words are the document's: a notice is published in Chinese
whatever language the office reads the site in, so it is built under a zh-hans override and
its sentences are not marked for translation.

The text is a list of lines, one paragraph each; `notice_blocks` reads any such text (the
generated one, or the office's edit of it) back into titles, headings and paragraphs, so the
page, the .txt and the .docx share one reading of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone, translation

from findings.models import Category, Finding, Inspection, InspectionKind, InspectionOutcome, OutcomeKind
from measures.models import COMPLETED_STATUSES, Measure, MeasureStatus
from measures.rates import rate_percent
from rectify.common.chinese_numerals import chinese_ordinal_clause, chinese_ordinal_heading, to_chinese_numeral

# What the inspection is called in "开展了…" / "反馈了…意见"; the kinds whose label reads
# badly there get a plainer word.
_KIND_WORDS = {InspectionKind.OTHER: "检查", InspectionKind.PETITION: "信访督办"}

_TRAILING_PUNCTUATION = " \t,，、;；:：。.．"
_WHITESPACE = re.compile(r"\s+")


def chinese_date(value: date) -> str:
    """2022-01-14 → 2022年1月14日, as official documents write dates."""
    return f"{value.year}年{value.month}月{value.day}日"


def _onsite_period(start: date | None, end: date | None) -> str:
    if start and end:
        if start == end:
            return chinese_date(start)
        tail = f"{end.month}月{end.day}日" if end.year == start.year else chinese_date(end)
        return f"{chinese_date(start)}至{tail}"
    if start:
        return f"{chinese_date(start)}起"
    if end:
        return f"至{chinese_date(end)}"
    return ""


def _clause(text: str) -> str:
    """A measure's text or result as one clause of "一是…。": one line, no trailing mark."""
    return _WHITESPACE.sub(" ", text or "").strip().rstrip(_TRAILING_PUNCTUATION)


def _short(text: str, limit: int = 60) -> str:
    text = _clause(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_label(status: str) -> str:
    return str(MeasureStatus(status).label) if status in MeasureStatus.values else status


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeFigures:
    findings: int
    measures: int
    completed: int
    # A finding is open while any of its measures is not yet completed (document 002's
    # "尚未整改到位1个问题(1条整改措施)"); the dashboards' stricter "not all signed off"
    # answers a different question, for the office rather than the public.
    open_findings: int
    criticised: int = 0
    reminder_talks: int = 0
    other_accountability: int = 0
    regulations_new: int = 0
    regulations_revised: int = 0

    @property
    def open_measures(self) -> int:
        return self.measures - self.completed

    @property
    def completion_rate(self) -> Decimal | None:
        return rate_percent(self.completed, self.measures)


def notice_figures(inspection: Inspection) -> NoticeFigures:
    """The notice's figures in three aggregate queries, whatever the size of the ledger."""
    not_completed = ~Q(measures__status__in=COMPLETED_STATUSES)
    # Findings joined to their measures: one row per measure, hence distinct; a finding
    # without measures still counts once in the total.
    findings = Finding.objects.filter(inspection=inspection).aggregate(
        total=Count("id", distinct=True),
        open=Count("id", distinct=True, filter=not_completed & Q(measures__isnull=False)),
    )
    measures = Measure.objects.filter(inspection=inspection).aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(status__in=COMPLETED_STATUSES)),
    )
    outcomes = InspectionOutcome.objects.filter(inspection=inspection).aggregate(
        **{kind.value: Sum("count", filter=Q(kind=kind)) for kind in OutcomeKind}
    )
    return NoticeFigures(
        findings=findings["total"],
        measures=measures["total"],
        completed=measures["completed"],
        open_findings=findings["open"],
        criticised=outcomes[OutcomeKind.CRITICISED] or 0,
        reminder_talks=outcomes[OutcomeKind.REMINDER_TALK] or 0,
        other_accountability=outcomes[OutcomeKind.OTHER_ACCOUNTABILITY] or 0,
        regulations_new=outcomes[OutcomeKind.REGULATION_NEW] or 0,
        regulations_revised=outcomes[OutcomeKind.REGULATION_REVISED] or 0,
    )


def totals_sentence(inspection: Inspection, figures: NoticeFigures) -> str:
    """ "针对市委第一巡察组反馈的29个问题,制定145条整改措施,已完成整改144条措施,整改完成率99.31%;
    尚未整改到位1个问题(1条整改措施)。" in the form of document 002."""
    source = inspection.source_body.strip()
    head = f"针对{source}反馈的{figures.findings}个问题"
    if figures.measures == 0:
        return f"{head},尚未制定整改措施。"
    sentence = (
        f"{head},制定{figures.measures}条整改措施,已完成整改{figures.completed}条措施,"
        f"整改完成率{figures.completion_rate}%"
    )
    if figures.open_measures == 0:
        return f"{sentence};反馈问题已全部整改到位。"
    return f"{sentence};尚未整改到位{figures.open_findings}个问题({figures.open_measures}条整改措施)。"


def outcomes_clause(figures: NoticeFigures) -> str:
    """ "批评教育2人,提醒谈话6人,建章立制27项,其中新制定制度13项,修订完善制度14项", zero parts left out."""
    parts = []
    for label, count in (
        ("批评教育", figures.criticised),
        ("提醒谈话", figures.reminder_talks),
        ("其他问责", figures.other_accountability),
    ):
        if count:
            parts.append(f"{label}{count}人")
    regulations = figures.regulations_new + figures.regulations_revised
    if regulations:
        detail = [
            f"{label}{count}项"
            for label, count in (("新制定制度", figures.regulations_new), ("修订完善制度", figures.regulations_revised))
            if count
        ]
        parts.append(f"建章立制{regulations}项,其中" + ",".join(detail))
    return ",".join(parts)


def outcomes_sentence(figures: NoticeFigures) -> str:
    clause = outcomes_clause(figures)
    return f"在整改中,{clause}。" if clause else ""


_RATE_MENTION = re.compile(r"整改完成率\s*([0-9０-９]+(?:[.．][0-9０-９]+)?)\s*[%％]")


def figure_errors(text: str, inspection: Inspection) -> list[str]:
    """Why an edited notice may not be published: the figures it states are not the ledger's.

    The office may rewrite any prose, but the totals sentence (and the accountability and
    regulations clause) must appear exactly as the ledger gives them now, and every
    "整改完成率…%" must be the ledger's rate. We refuse rather than quietly re-inserting the
    computed sentence: a sentence that was reworded cannot be found reliably to be replaced,
    and a document that differs from the one the office reviewed must not leave the system
    unseen. The refusal shows the sentence to paste back, so the fix is one copy.
    """
    figures = notice_figures(inspection)
    errors = []
    expected = totals_sentence(inspection, figures)
    normalised = _WHITESPACE.sub("", text)
    if _WHITESPACE.sub("", expected) not in normalised:
        errors.append(f"通报中的整改总数句与台账不一致,请原样保留:“{expected}”")
    clause = outcomes_clause(figures)
    if clause and _WHITESPACE.sub("", clause) not in normalised:
        errors.append(f"通报中的问责和建章立制数字与台账不一致,请原样保留:“{clause}”")
    rate = figures.completion_rate
    for match in _RATE_MENTION.finditer(text):
        stated = match.group(1).translate(str.maketrans("０１２３４５６７８９．", "0123456789."))
        if rate is None or Decimal(stated) != rate:
            errors.append(f"通报中写的“{match.group(0)}”与台账计算的整改完成率({rate}%)不一致。")
            break
    return errors


# --- the notice ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    inspection: Inspection
    figures: NoticeFigures
    title: str
    opening: str
    totals_sentence: str
    outcomes_sentence: str
    category_paragraphs: list[str]
    open_items: list[str]
    # On an earlier inspection: its measures a look-back found had come back (问题反弹).
    reopened_items: list[str] = field(default_factory=list)
    # On a look-back: the earlier measures it reopened.
    reopening_items: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        sections: list[tuple[str, list[str]]] = [
            ("整改工作总体情况", [self.totals_sentence + self.outcomes_sentence]),
            ("具体问题整改情况", self.category_paragraphs or ["本次检查尚未录入问题类别。"]),
        ]
        if self.open_items:
            sections.append(("尚未整改到位的问题", self.open_items))
        if self.reopened_items:
            sections.append(("回头看发现问题反弹情况", ["回头看中发现反弹,已重新整改:", *self.reopened_items]))
        if self.reopening_items:
            sections.append(
                ("重新整改的原有措施", ["本次回头看发现以下原有整改措施问题反弹,已重新整改:", *self.reopening_items])
            )
        lines = [self.title, self.opening]
        for number, (heading, paragraphs) in enumerate(sections, start=1):
            lines.append(f"{to_chinese_numeral(number)}、{heading}")
            lines.extend(paragraphs)
        lines.extend(self.signature)
        return lines

    def as_text(self) -> str:
        return "\n".join(self.lines()) + "\n"


def _kind_word(inspection: Inspection) -> str:
    kind = inspection.kind
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    return str(InspectionKind(kind).label) if kind in InspectionKind.values else "检查"


def notice_title(inspection: Inspection) -> str:
    unit = inspection.inspected_unit.strip()
    return f"{unit}关于{_kind_word(inspection)}整改落实情况的通报"


def opening_paragraph(inspection: Inspection) -> str:
    """ "根据市委统一部署,2021年9月23日至11月30日,市委第一巡察组对市民政局党组开展了巡察“回头看”。
    2022年1月14日,市委第一巡察组向市民政局党组反馈了巡察“回头看”意见。…", leaving out what is not recorded."""
    kind = _kind_word(inspection)
    source = inspection.source_body.strip()
    unit = inspection.inspected_unit.strip()
    deployment = inspection.deployment.strip().rstrip(_TRAILING_PUNCTUATION)
    clauses = []
    if deployment:
        # The field's help text suggests "市委巡察工作统一部署"; "市委统一" works too.
        clauses.append(f"根据{deployment}" if deployment.endswith("部署") else f"根据{deployment}部署")
    period = _onsite_period(inspection.onsite_start, inspection.onsite_end)
    if period:
        clauses.append(period)
    clauses.append(f"{source}{f'对{unit}' if unit else ''}开展了{kind}")
    text = ",".join(clauses) + "。"
    feedback = f"{source}{f'向{unit}' if unit else ''}反馈了{kind}意见。"
    if inspection.feedback_date:
        feedback = f"{chinese_date(inspection.feedback_date)},{feedback}"
    return text + feedback + "现将整改落实情况通报如下:"


# The columns of a measure row the notice reads, in one query.
_ROW_FIELDS = (
    "category_id",
    "finding__number",
    "number",
    "text",
    "result",
    "status",
    "deadline",
    "owner",
    "lead_department__name",
    "reopens_id",
    "reopens__number",
    "reopens__finding__number",
    "reopens__text",
    "reopens__inspection__title",
)


def build_notice(inspection: Inspection, *, today: date | None = None) -> Notice:
    """The notice of `inspection` as the ledger stands now; a fixed number of queries."""
    today = today or timezone.localdate()
    with translation.override("zh-hans"):
        figures = notice_figures(inspection)
        categories = list(Category.objects.filter(inspection=inspection).order_by("order").values_list("id", "title"))
        clauses: dict[int, list[str]] = {category_id: [] for category_id, _title in categories}
        open_items: list[str] = []
        reopening_items: list[str] = []
        rows = (
            Measure.objects.filter(inspection=inspection)
            .order_by("category__order", "finding__number", "number", "id")
            .values_list(*_ROW_FIELDS)
        )
        for row in rows.iterator(chunk_size=2000):
            (category_id, finding_no, number, text, result, status, deadline, owner, department) = row[:9]
            clause = _clause(result) or _clause(text)
            if clause:
                clauses.setdefault(category_id, []).append(clause)
            if status not in COMPLETED_STATUSES:
                overdue = "(已超期)" if deadline < today else ""
                who = f"责任单位:{department}" + (f",责任人:{owner.strip()}" if owner.strip() else "")
                open_items.append(
                    f"{len(open_items) + 1}.第{finding_no}号问题第{number}条措施:{_clause(text)}。"
                    f"{who},整改时限:{chinese_date(deadline)}{overdue}。"
                )
            reopens_id, old_number, old_finding_no, old_text, old_title = row[9:]
            if reopens_id is not None:
                reopening_items.append(
                    f"{len(reopening_items) + 1}.“{old_title}”第{old_finding_no}号问题第{old_number}条措施"
                    f"“{_short(old_text)}”,重新整改为第{finding_no}号问题第{number}条措施(当前状态:{_status_label(status)})。"
                )
        paragraphs = []
        for position, (category_id, title) in enumerate(categories, start=1):
            body = "".join(
                f"{chinese_ordinal_clause(index)}{clause}。" for index, clause in enumerate(clauses[category_id], 1)
            )
            heading = f"{chinese_ordinal_heading(position)}关于“{_clause(title)}”问题的整改情况。"
            paragraphs.append(heading + (body or "尚未制定整改措施。"))
        reopened = (
            Measure.objects.filter(reopens__inspection=inspection)
            .order_by("reopens__finding__number", "reopens__number", "id")
            .values_list("reopens__finding__number", "reopens__number", "reopens__text", "inspection__title", "status")
        )
        reopened_items = [
            f"{index}.第{finding_no}号问题第{number}条措施“{_short(text)}”:问题反弹,"
            f"已在“{lookback_title}”中重新整改(当前状态:{_status_label(status)})。"
            for index, (finding_no, number, text, lookback_title, status) in enumerate(reopened, start=1)
        ]
        unit = inspection.inspected_unit.strip()
        return Notice(
            inspection=inspection,
            figures=figures,
            title=notice_title(inspection),
            opening=opening_paragraph(inspection),
            totals_sentence=totals_sentence(inspection, figures),
            outcomes_sentence=outcomes_sentence(figures),
            category_paragraphs=paragraphs,
            open_items=open_items,
            reopened_items=reopened_items,
            reopening_items=reopening_items,
            signature=[*([unit] if unit else []), chinese_date(today)],
        )


# --- reading a notice's text back ------------------------------------------------------------


@dataclass(frozen=True)
class NoticeBlock:
    """One paragraph of a notice: kind is title, heading, paragraph or signature; `lead` is
    the "(一)关于…的整改情况。" a category paragraph opens with, set apart in print."""

    kind: str
    text: str
    lead: str = ""


_HEADING_LINE = re.compile(r"[一二三四五六七八九十百千零]{1,6}、")
_LEAD = re.compile(r"[(（][一二三四五六七八九十百千零]{1,8}[)）][^。]{0,200}?。")
_DATE_LINE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")
_HEADING_MAX_LENGTH = 40
_SIGNATURE_MAX_LENGTH = 30


def notice_blocks(text: str) -> list[NoticeBlock]:
    """The paragraphs of a notice's text: the first line is the title, "一、…" lines are
    headings, a trailing unit-and-date pair is the signature, the rest is body text."""
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return []
    signature_from = len(lines)
    if len(lines) > 1 and _DATE_LINE.fullmatch(lines[-1]):
        signature_from = len(lines) - 1
        before = lines[-2]
        if len(lines) > 2 and len(before) <= _SIGNATURE_MAX_LENGTH and before[-1] not in "。:：;；,,!！?？":
            signature_from -= 1
    blocks = [NoticeBlock("title", lines[0])]
    for index, line in enumerate(lines[1:], start=1):
        if index >= signature_from:
            blocks.append(NoticeBlock("signature", line))
        elif len(line) <= _HEADING_MAX_LENGTH and _HEADING_LINE.match(line):
            blocks.append(NoticeBlock("heading", line))
        else:
            lead = _LEAD.match(line)
            if lead:
                blocks.append(NoticeBlock("paragraph", line[lead.end() :], lead=lead.group(0)))
            else:
                blocks.append(NoticeBlock("paragraph", line))
    return blocks
