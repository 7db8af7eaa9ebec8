"""The feedback parser on the real reports (copied into data/) and on random and hostile text.

Expected figures are counted from the text itself with deliberately simple string methods,
independent of the parser's patterns, so the tests check the parser against the document.
"""

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drafts.parser import (
    INTERNAL_ERROR_WARNING,
    UNPARSEABLE_WARNING,
    DraftLedger,
    parse_feedback,
)
from rectify.common.chinese_numerals import to_chinese_numeral

DATA = Path(__file__).parent / "data"
ORDINALS = ["一是", "二是", "三是", "四是", "五是", "六是", "七是", "八是", "九是"]
TRAILING_PUNCTUATION = tuple("。,，;；:：、.")
# Catastrophic backtracking takes minutes on a megabyte; the bound catches that, not a slow CI box.
SECONDS_FOR_A_MEGABYTE = 3.0


def seed(name: str) -> str:
    return (DATA / f"seed_{name}.txt").read_text(encoding="utf-8")


def ordinal_count(paragraph: str) -> int:
    return sum(1 for ordinal in ORDINALS if ordinal in paragraph)


def assert_well_formed(draft: DraftLedger) -> None:
    """What the draft form relies on, whatever the input."""
    assert isinstance(draft, DraftLedger)
    assert INTERNAL_ERROR_WARNING not in draft.warnings
    assert [category.order for category in draft.categories] == list(range(1, len(draft.categories) + 1))
    assert [finding.number for finding in draft.findings] == list(range(1, len(draft.findings) + 1))
    for finding in draft.findings:
        assert [measure.number for measure in finding.measures] == list(range(1, len(finding.measures) + 1))
    texts = [category.title for category in draft.categories]
    texts += [finding.description for finding in draft.findings]
    texts += [measure.text for finding in draft.findings for measure in finding.measures]
    texts += [measure.text for measure in draft.unassigned_measures]
    for text in texts:
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", text)
    for finding in draft.findings:
        for measure in finding.measures:
            assert measure.text
            assert measure.text == measure.text.strip()
            assert not measure.text.endswith(TRAILING_PUNCTUATION)
    if draft.is_empty:
        assert draft.warnings == [UNPARSEABLE_WARNING]


# --- document 000: 5 categories, 12 numbered findings, "一是…二是…" measures ----------------


@pytest.fixture(scope="module")
def seed_000():
    return seed("000")


@pytest.fixture(scope="module")
def draft_000(seed_000):
    return parse_feedback(seed_000)


def finding_paragraphs_000(text: str) -> dict[int, str]:
    """Finding number → its paragraph(s), cut by plain string search on "N.针对"."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = {}
    for index, line in enumerate(lines):
        number, dot, rest = line.partition(".")
        if dot and number.isdigit() and rest.startswith("针对"):
            starts[int(number)] = index
    paragraphs = {}
    for number, index in starts.items():
        parts = [lines[index]]
        for line in lines[index + 1 :]:
            if line.startswith(("(", "三、")) or line.partition(".")[0].isdigit():
                break
            parts.append(line)
        paragraphs[number] = "".join(parts)
    return paragraphs


def test_seed_000_has_its_five_categories_in_order(seed_000, draft_000):
    headings = [line.strip() for line in seed_000.splitlines() if line.strip().startswith("(") and "关于“" in line]
    expected = [heading[heading.index("“") + 1 : heading.rindex("”")] for heading in headings]
    assert len(expected) == 5
    assert [category.title for category in draft_000.categories] == expected
    assert draft_000.categories[0].title == "工作机制有待进一步完善"


def test_seed_000_has_its_twelve_numbered_findings(seed_000, draft_000):
    paragraphs = finding_paragraphs_000(seed_000)
    assert sorted(paragraphs) == list(range(1, 13))
    assert [finding.number for finding in draft_000.findings] == sorted(paragraphs)
    assert not draft_000.uncategorized_findings
    for finding in draft_000.findings:
        paragraph = paragraphs[finding.number]
        quoted = paragraph[paragraph.index("针对“") + 3 : paragraph.index("”问题")]
        assert finding.description == quoted.replace(" ", "")


def test_seed_000_every_finding_has_its_measures(seed_000, draft_000):
    paragraphs = finding_paragraphs_000(seed_000)
    for finding in draft_000.findings:
        assert finding.measures, finding.number
        # A paragraph without "一是…" is one measure.
        assert len(finding.measures) == max(1, ordinal_count(paragraphs[finding.number])), finding.number


def test_seed_000_first_finding_has_one_measure_per_ordinal_clause(seed_000, draft_000):
    first_paragraph = next(line for line in seed_000.splitlines() if line.strip().startswith("1.针对"))
    clauses = ordinal_count(first_paragraph)
    assert clauses >= 2
    first = draft_000.findings[0]
    assert len(first.measures) == clauses
    assert first.measures[0].text.startswith("完善机关规范化管理")
    assert first.measures[1].text.startswith("建立对外沟通协调机制")


def test_seed_000_finding_belongs_to_the_category_above_it(draft_000):
    counts = [len(category.findings) for category in draft_000.categories]
    assert sum(counts) == 12
    assert counts[0] == 1  # (一) holds only finding 1, (二) starts at finding 2
    assert draft_000.categories[1].findings[0].number == 2


def test_seed_000_sections_around_the_findings_are_not_measures(seed_000, draft_000):
    # "一、评议整改措施" and "三、评估意见建议" also enumerate "一是…二是…", but they frame the ledger.
    last_measure = draft_000.findings[-1].measures[-1].text
    assert "推动问题整改全面见效" not in last_measure
    all_measures = " ".join(measure.text for finding in draft_000.findings for measure in finding.measures)
    assert "成立组织,坚持领导专抓" not in all_measures


def test_seed_000_paragraph_after_the_last_clause_continues_that_measure(seed_000, draft_000):
    continuation = next(line.strip() for line in seed_000.splitlines() if line.strip().startswith("通过民政局官网"))
    last_measure = draft_000.findings[-1].measures[-1].text
    assert last_measure.endswith(continuation.replace(" ", "").rstrip("。"))


def test_seed_000_spacing_from_pdf_is_normalised(draft_000):
    for finding in draft_000.findings:
        for measure in finding.measures:
            assert " " not in measure.text
    assert any("12月8日" in measure.text for finding in draft_000.findings for measure in finding.measures)


def test_seed_000_title_and_stated_totals(seed_000, draft_000):
    assert draft_000.title == seed_000.strip().splitlines()[0].strip()
    # The text states "5 个方面12 个问题"; the draft agrees, so no mismatch warning.
    assert not [warning for warning in draft_000.warnings if "原文提到" in warning]
    assert_well_formed(draft_000)


# --- document 002: a notice whose 14 categories are each one problem -------------------------


@pytest.fixture(scope="module")
def seed_002():
    return seed("002")


@pytest.fixture(scope="module")
def draft_002(seed_002):
    return parse_feedback(seed_002)


def category_paragraphs_002(text: str) -> list[tuple[str, str]]:
    """(title, paragraph) per "(…)关于“…”问题的整改情况" heading, by plain string search."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = []
    for index, line in enumerate(lines):
        if line.startswith("(") and ")关于“" in line[:8]:
            title = line[line.index("“") + 1 : line.index("”问题的整改情况")]
            paragraph = line[line.index("整改情况") + 4 :]
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if not paragraph.strip("。") and not following.startswith(("(", "三、")):
                paragraph = following
            found.append((title, paragraph))
    return found


def test_seed_002_has_its_fourteen_categories_in_order(seed_002, draft_002):
    expected = [title for title, _paragraph in category_paragraphs_002(seed_002)]
    assert len(expected) == 14
    assert [category.title for category in draft_002.categories] == expected
    assert [category.order for category in draft_002.categories] == list(range(1, 15))


def test_seed_002_each_category_is_one_problem_with_its_measures(seed_002, draft_002):
    for category, (title, paragraph) in zip(draft_002.categories, category_paragraphs_002(seed_002), strict=True):
        assert len(category.findings) == 1
        finding = category.findings[0]
        assert finding.description == title
        assert len(finding.measures) == max(1, ordinal_count(paragraph)), title


def test_seed_002_closing_section_is_not_part_of_the_last_category(draft_002):
    last = draft_002.categories[-1].findings[0]
    assert not any("持续抓好整改" in measure.text for measure in last.measures)
    assert not any("欢迎广大干部群众" in measure.text for measure in last.measures)


def test_seed_002_warns_that_the_text_states_more_problems_than_it_lists(seed_002, draft_002):
    stated = re.search(r"反馈的(\d+)个问题", seed_002).group(1)
    assert any(f"原文提到{stated}个问题" in warning for warning in draft_002.warnings)
    assert_well_formed(draft_002)


# --- the other reports: problems become findings ----------------------------------------------

# Short excerpts of documents 001, 003 and 004 (work reports and a survey, not rectification
# notices): the "存在问题" section lists the findings, the plans section the measures.

EXCERPT_003 = """\
  三、存在的困难和问题
  虽然我市基层民政能力建设情况较好,但还是存在一定的不足与差距,当前着重需要解决的有以下两个方面问题。
  (一)民政工作力量薄弱。民政工作任务越来越重,影响了民政工作的进度和质量。
  (二)民政发展观念与服务理念有待提高。了解群众需求不够细致,服务意识有待进一步增强。
  四、几点建议
  (一)健全工作机构,完善服务体系。
  抓住机构改革契机,探索组建一个市级中心。
  (二)实行清单管理,规范工作机制。
  认真落实省民政厅《乡镇办理的民政事项清单》。


                                                                                 (市人大常委会内司工委)

                                                                                2019年2月

打印本页
返回前页"""


def test_survey_problems_become_findings_and_recommendations_unassigned_measures():
    draft = parse_feedback(EXCERPT_003)
    assert [category.title for category in draft.categories] == ["存在的困难和问题"]
    descriptions = [finding.description for finding in draft.findings]
    assert len(descriptions) == 2
    assert descriptions[0].startswith("民政工作力量薄弱。")
    assert descriptions[1].startswith("民政发展观念与服务理念有待提高")
    assert [measure.text for measure in draft.unassigned_measures] == [
        "健全工作机构,完善服务体系。抓住机构改革契机,探索组建一个市级中心",
        "实行清单管理,规范工作机制。认真落实省民政厅《乡镇办理的民政事项清单》",
    ]
    assert any("无法对应到具体问题" in warning for warning in draft.warnings)
    assert_well_formed(draft)


EXCERPT_004 = """\
五、存在问题
1、有些民政法规制度、体制机制还比较滞后,还有待进一步建立健全。
2、民政法规政策众多,需要不断加强宣传学习。
3、民政工作量很大,人手紧张,需要进一步加强行政执法队伍建设。
六、下一步打算
1、加强民政政策法规的配套政策创制工作。
2、进一步细化民政业务工作各项规章制度。
3、采取多种形式,加大宣传民政法律、法规,继续加强对
民政执法人员的培训,进一步增强法治意识。
衢州市衢江区民政局
2021年3月4日"""


def test_work_report_problem_list_and_hard_wrapped_next_steps():
    draft = parse_feedback(EXCERPT_004)
    assert [category.title for category in draft.categories] == ["存在问题"]
    assert [finding.description for finding in draft.findings] == [
        "有些民政法规制度、体制机制还比较滞后,还有待进一步建立健全",
        "民政法规政策众多,需要不断加强宣传学习",
        "民政工作量很大,人手紧张,需要进一步加强行政执法队伍建设",
    ]
    measures = [measure.text for measure in draft.unassigned_measures]
    assert len(measures) == 3
    # The PDF line break inside the sentence is joined; the signature below it is not a measure.
    assert measures[2] == "采取多种形式,加大宣传民政法律、法规,继续加强对民政执法人员的培训,进一步增强法治意识"
    assert_well_formed(draft)


EXCERPT_001 = """\
五、存在问题和原因
今年以来,民政系统法治工作虽取得了一定成效,但与上级的要求还有一定差距,主要表现在:个别同志对依法行政工作的重要性缺泛足够的认识,行政执法的主动性有待提高。
六、明年工作方向和具体措施
(一)加强制度建设
完善决策制度,规范决策程序。
(二)继续创新社会管理
深化城乡社区治理创新。一是提升城乡社区治理水平。二是激发社会组织活力。"""


def test_single_problem_paragraph_takes_the_next_year_measures():
    draft = parse_feedback(EXCERPT_001)
    assert [category.title for category in draft.categories] == ["存在问题和原因"]
    (finding,) = draft.findings
    assert finding.description == "个别同志对依法行政工作的重要性缺泛足够的认识,行政执法的主动性有待提高"
    assert [measure.text for measure in finding.measures] == [
        "加强制度建设。完善决策制度,规范决策程序",
        "继续创新社会管理。深化城乡社区治理创新。一是提升城乡社区治理水平。二是激发社会组织活力",
    ]
    assert not draft.unassigned_measures
    assert_well_formed(draft)


# --- the shapes people type -------------------------------------------------------------------


def test_full_width_markers_and_corner_quotes():
    draft = parse_feedback(
        "（一）关于「工作机制有待完善」问题的整改情况\n"
        "１．针对「协调不够」问题：一是建立联席会议制度；二是每月通报一次。\n"
        '（二）关于"作风不实"\n'
        '２、针对"调研不深"问题：一是领导班子每月下基层两次。'
    )
    assert [category.title for category in draft.categories] == ["工作机制有待完善", "作风不实"]
    first, second = draft.findings
    assert first.description == "协调不够"
    assert [measure.text for measure in first.measures] == ["建立联席会议制度", "每月通报一次"]
    assert second.description == "调研不深"
    assert [measure.text for measure in second.measures] == ["领导班子每月下基层两次"]
    assert_well_formed(draft)


def test_heading_and_body_on_one_line_with_decorations_stripped():
    draft = parse_feedback("(三)关于“财经纪律执行不严格”问题的整改情况。一是全面开展自查自纠。二是规范采购。")
    (category,) = draft.categories
    assert category.title == "财经纪律执行不严格"
    (finding,) = category.findings
    assert finding.description == "财经纪律执行不严格"
    assert [measure.text for measure in finding.measures] == ["全面开展自查自纠", "规范采购"]


def test_plain_outline_with_dun_headings_as_categories():
    draft = parse_feedback(
        "一、党的建设方面\n1.理论学习不深入。\n2.组织生活不规范。\n二、作风建设方面\n3.调查研究不够。"
    )
    assert [category.title for category in draft.categories] == ["党的建设方面", "作风建设方面"]
    assert [len(category.findings) for category in draft.categories] == [2, 1]
    assert draft.findings[2].description == "调查研究不够"


def test_ordinals_beyond_ten():
    clauses = "".join(f"{to_chinese_numeral(n)}是第{n}项措施。" for n in range(1, 26))
    draft = parse_feedback(f"1.针对“问题很多”问题:{clauses}")
    (finding,) = draft.findings
    assert len(finding.measures) == 25
    assert finding.measures[10].text == "第11项措施"
    assert finding.measures[19].text == "第20项措施"
    assert finding.measures[24].text == "第25项措施"


def test_words_containing_yi_shi_are_not_clauses():
    draft = parse_feedback("1.针对“标准不统一”问题:一是做到统一是前提。二是逐步推开。")
    (finding,) = draft.findings
    assert [measure.text for measure in finding.measures] == ["做到统一是前提", "逐步推开"]


def test_numbered_list_under_a_finding_gives_its_measures():
    draft = parse_feedback(
        "1.针对“台账不全”问题:\n(1)建立大台账;\n(2)建立专班小台账。\n2.针对“通报不及时”问题:\n①每月通报。"
    )
    first, second = draft.findings
    assert [measure.text for measure in first.measures] == ["建立大台账", "建立专班小台账"]
    assert [measure.text for measure in second.measures] == ["每月通报"]


def test_odd_spacing_page_furniture_and_hard_wraps():
    draft = parse_feedback(
        "\u3000\u30001.针对“会议 记录不全”问题:一是12 月14 日召开\n"
        "- 2 -\n"
        "第 3 页 共 10 页\n"
        "\u3000 专题会议,补齐记录。二是建立\t制度。\n"
    )
    (finding,) = draft.findings
    assert finding.description == "会议记录不全"
    assert [measure.text for measure in finding.measures] == ["12月14日召开专题会议,补齐记录", "建立制度"]


def test_renumbering_is_reported():
    draft = parse_feedback("(一)关于“甲”\n1.针对“A”问题:一是x。\n(二)关于“乙”\n1.针对“B”问题:一是y。")
    assert [finding.number for finding in draft.findings] == [1, 2]
    assert any("重新编号" in warning for warning in draft.warnings)


def test_findings_without_a_category_heading_are_kept_and_flagged():
    draft = parse_feedback("1.针对“A”问题:一是x。二是y。\n2.针对“B”问题:一是z。")
    assert not draft.categories
    assert [finding.description for finding in draft.uncategorized_findings] == ["A", "B"]
    assert any("不在任何类别标题下" in warning for warning in draft.warnings)


def test_unparseable_text_gives_an_empty_draft_with_a_clear_message():
    draft = parse_feedback("这是一段没有任何编号和标题的文字,说明工作情况良好。")
    assert draft.is_empty
    assert draft.warnings == [UNPARSEABLE_WARNING]


# --- hostile input ------------------------------------------------------------------------------

MEGABYTE = 1_000_000

HOSTILE = {
    "empty": "",
    "only whitespace": " \u3000\t\n\r\n\u2028\u00a0" * 10,
    "unbalanced quotes": "“““",
    "unbalanced quote in a finding": "(一)关于“" + "甲" * 1000 + "\n1.针对“乙问题:一是" + "丙" * 1000,
    "a megabyte of 一是": "一是" * (MEGABYTE // 2),
    "a megabyte of separated 一是": "。一是" * (MEGABYTE // 3),
    "only punctuation": "。,，;；:：!?“”‘’()（）、《》【】…—" * (MEGABYTE // 24),
    "mixed control characters": "".join(chr(code) for code in range(32)) * 10 + "\x7f\x85\u2029\ud800(一)关于“x”",
    "huge numbers": "99999999999999999999.针对“x”\n(九千九百九十九万九千九百九十九亿九千九百九十九万)关于“y”\n"
    + "("
    + "十" * 5000
    + ")\n"
    + "九" * MEGABYTE,
    "a megabyte of numbered lines": "1.\n" * (MEGABYTE // 3),
    "a megabyte of headings and findings": "(一)关于“x”\n1.针对“y”问题:一是a。二是b\n" * (MEGABYTE // 30),
    "a megabyte of problem sections": "一、存在问题\n" * (MEGABYTE // 7),
    "a megabyte continuing one measure": "1.针对“x”问题:一是a\n" + "延续的一行文字。\n" * (MEGABYTE // 9),
    "a megabyte of open quotes": "1.针对" + "“" * MEGABYTE,
    "a megabyte of digits": "1" * MEGABYTE,
    "ordinals counting to fifty thousand": "1.针对“x”问题:"
    + "".join(f"。{to_chinese_numeral(n)}是x" for n in range(1, 50_000)),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_never_raises_and_stays_fast(text):
    started = time.perf_counter()
    draft = parse_feedback(text)
    elapsed = time.perf_counter() - started
    assert_well_formed(draft)
    assert elapsed < SECONDS_FOR_A_MEGABYTE


def test_non_string_input_is_tolerated():
    assert parse_feedback(None).warnings == [UNPARSEABLE_WARNING]
    assert parse_feedback("1.针对“x”问题:一是y。".encode()).findings[0].measures[0].text == "y"


# The vocabulary of the documents, so random text often forms headings, quotes and clauses.
FRAGMENTS = [
    "一、",
    "二、",
    "十四、",
    "(一)",
    "（二）",
    "(十四)",
    "1.",
    "2、",
    "１２．",
    "(1)",
    "（3）",
    "①",
    "②",
    "关于",
    "针对",
    "“",
    "”",
    "「",
    "」",
    '"',
    "‘",
    "’",
    "问题",
    "问题:",
    "问题：",
    "的整改情况",
    "。",
    "，",
    ",",
    ";",
    ":",
    "一是",
    "二是",
    "三是",
    "十一是",
    "统一是",
    "存在问题",
    "几点建议",
    "下一步打算",
    "\n",
    "\n\n",
    " ",
    "\u3000",
    "\t",
    "\r\n",
    "- 3 -",
    "打印本页",
    "|",
    "整改",
    "措施",
    "甲",
    "乙",
    "12 月14 日",
    "5个方面12个问题",
    "制定145条整改措施",
    "九千九百亿",
    "99999999999",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=80).map("".join))
def test_random_document_shaped_text_never_raises(text):
    assert_well_formed(parse_feedback(text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_random_unicode_never_raises(text):
    assert_well_formed(parse_feedback(text))
