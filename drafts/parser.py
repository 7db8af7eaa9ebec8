"""Turn a pasted feedback or report text into a draft ledger (categories, findings, measures).

Plain Python with no Django, so the draft page, a management command or a fuzzer can all use it.
The input is whatever people paste: web pages with their furniture, PDF text with hard line
breaks and stray spaces ("12 月14 日"), full-width punctuation. The parser never raises, and
no pattern can backtrack catastrophically: each is anchored or bounded, each line is looked
at a fixed number of times and the output is capped, so a megabyte of hostile text is parsed
in under a second.

What it understands, from the documents our users write:

* headings in the official order 一、 > (一) > 1. > (1) > ①, half or full width;
* categories written "(一)关于“工作机制有待进一步完善”" or "(三)关于“…”问题的整改情况。一是…";
* findings written "1.针对“…”问题:" (the quoted text is the description);
* measures written "一是… 二是… 十一是…" or as a numbered list under the finding;
* reports without that shape (work summaries, surveys): the "存在问题" section gives the
  findings and the "下一步打算 / 几点建议" section the measures.

Anything it cannot place is reported in ``warnings`` (Chinese, shown to the user) rather than
guessed silently; a text with no recognisable structure gives an empty draft to fill by hand.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from rectify.common.chinese_numerals import from_chinese_numeral

logger = logging.getLogger(__name__)

UNPARSEABLE_WARNING = "未能识别出问题类别或问题编号,请手工填写。"
INTERNAL_ERROR_WARNING = "解析时出现内部错误,请手工填写,并将原文反馈给系统管理员。"

# A real ledger has tens of categories and a few hundred findings; the caps only stop a
# pathological paste from producing a form nobody can review.
MAX_CATEGORIES = 200
MAX_FINDINGS = 2000
MAX_MEASURES_PER_FINDING = 200


@dataclass
class DraftMeasure:
    number: int
    text: str


@dataclass
class DraftFinding:
    number: int
    description: str
    measures: list[DraftMeasure] = field(default_factory=list)


@dataclass
class DraftCategory:
    order: int
    title: str
    findings: list[DraftFinding] = field(default_factory=list)


@dataclass
class DraftLedger:
    """What the draft form shows: categories numbered 1…n, findings numbered 1…N across the whole
    draft in text order (as Finding.number is), measures numbered 1…k within their finding."""

    title: str = ""
    categories: list[DraftCategory] = field(default_factory=list)
    # Findings the text numbers but puts under no category heading; the form asks for one.
    uncategorized_findings: list[DraftFinding] = field(default_factory=list)
    # Measures found in a "下一步打算 / 几点建议" section that cannot be tied to one finding.
    unassigned_measures: list[DraftMeasure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[DraftFinding]:
        """Every finding, in the order the text gives them."""
        found = [finding for category in self.categories for finding in category.findings]
        return sorted(found + self.uncategorized_findings, key=lambda finding: finding.number)

    @property
    def is_empty(self) -> bool:
        return not (self.categories or self.uncategorized_findings or self.unassigned_measures)


# --- cleaning -------------------------------------------------------------------------------

_CJK = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u2018-\u201f\u2026\u2014\u00b7"
# PDF and web copies put spaces around numbers and between characters ("12 月14 日"); spaces
# next to a Chinese character or full-width mark carry no meaning, spaces between Latin words do.
_SPACES_NEXT_TO_CJK = re.compile(f"(?<=[{_CJK}]) +| +(?=[{_CJK}])")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _build_cleaning_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0)):
        table[code] = None
    table[ord("\n")] = "\n"
    table[ord("\t")] = " "
    for ch in "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000":
        table[ord(ch)] = " "
    for ch in "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f":
        table[ord(ch)] = None
    return table


_CLEANING_TABLE = _build_cleaning_table()
_MULTIPLE_SPACES = re.compile(" {2,}")


def _clean_lines(text: str) -> list[str]:
    """The text's non-empty lines with control characters, odd spaces and page furniture removed.

    Cleaning runs over the whole text at once: per-line regex calls dominate the cost of a
    paste made of many short lines.
    """
    text = "\n".join(text.splitlines())  # \r\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029
    text = text.translate(_CLEANING_TABLE)
    text = _SURROGATES.sub("", text)
    text = _MULTIPLE_SPACES.sub(" ", text)
    text = _SPACES_NEXT_TO_CJK.sub("", text)
    lines = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line and not _is_furniture(line):
            lines.append(line)
    return lines


# Page numbers, web-page chrome and metadata tables around the text; recognised only on short
# lines so the patterns stay cheap.
_FURNITURE_MAX_LENGTH = 40
_PAGE_NUMBER = re.compile(r"[-—–_·]*\d{1,4}[-—–_·]*|第\d{1,4}页(?:共\d{1,4}页)?|共\d{1,4}页第\d{1,4}页|\d{1,4}/\d{1,4}")
_WEB_CHROME = re.compile(
    r"(?:[【\[]?(?:打印本页|打印|返回前页|返回顶部|返回|关闭窗口|关闭|收藏|分享|上一篇|下一篇)[】\]]?)+"
)
_WEB_CHROME_PREFIX = re.compile(
    r"(?:当前位置|您的位置|发布时间|发布日期|发文日期|阅览次数|浏览次数|点击数|访问量|信息来源|来源|字号|分享到|索引号|今天是)"
)


_PAGE_NUMBER_FIRST_CHARACTERS = frozenset("-—–_·第共")
_WEB_CHROME_FIRST_CHARACTERS = frozenset("【[打返关收分上下")
_WEB_CHROME_PREFIX_FIRST_CHARACTERS = frozenset("当您发阅浏点访信来字索今")


def _is_furniture(line: str) -> bool:
    if "|" in line or "｜" in line:
        return True  # metadata tables pasted from government web pages
    if len(line) > _FURNITURE_MAX_LENGTH:
        return False
    first = line[0]
    if first.isdigit() or first in _PAGE_NUMBER_FIRST_CHARACTERS:
        return _PAGE_NUMBER.fullmatch(line.replace(" ", "")) is not None
    if first in _WEB_CHROME_FIRST_CHARACTERS:
        return _WEB_CHROME.fullmatch(line.replace(" ", "")) is not None
    return first in _WEB_CHROME_PREFIX_FIRST_CHARACTERS and _WEB_CHROME_PREFIX.match(line) is not None


# --- headings -------------------------------------------------------------------------------

_CN_NUMERAL = "零〇一二两三四五六七八九十百千"
# Official documents number their levels 一、 > (一) > 1. > (1) > ① (GB/T 9704); the rank is
# the nesting depth we assume when the text does not say otherwise. One alternation per kind,
# in rank order, so a line costs a single match call.
_HEADING_KINDS = ("cn_dun", "cn_paren", "num_dot", "num_paren", "circled")
_HEADING = re.compile(
    f"([{_CN_NUMERAL}]{{1,8}})[、.．](?![0-9０-９])"
    f"|[(（]([{_CN_NUMERAL}]{{1,8}})[)）]"
    r"|(\d{1,3})[、.．](?![0-9０-９])"
    r"|[(（](\d{1,3})[)）]"
    "|([\u2460-\u2473])"
)
_RANK = {kind: rank for rank, kind in enumerate(_HEADING_KINDS)}
_HEADING_FIRST_CHARACTERS = frozenset(_CN_NUMERAL + "(（" + "".join(map(chr, range(0x2460, 0x2474))))
# No document has this many numbered lines; past it the rest of a paste is not read, so
# a megabyte of "1." costs no more than a large ledger.
MAX_HEADINGS = 20_000


def _match_heading(line: str) -> tuple[str, int, str] | None:
    """(kind, number, the text after the marker) when the line starts with a heading marker."""
    if not (line[0] in _HEADING_FIRST_CHARACTERS or line[0].isdigit()):
        return None
    match = _HEADING.match(line)
    if match is None:
        return None
    group = match.lastindex or 0
    kind = _HEADING_KINDS[group - 1]
    token = match.group(group)
    if kind == "circled":
        number = ord(token) - 0x2460 + 1
    elif kind.startswith("cn_"):
        try:
            number = from_chinese_numeral(token)
        except ValueError:
            return None
    else:
        number = int(token)
    return kind, number, line[match.end() :].strip()


@dataclass(slots=True)
class _Node:
    kind: str
    number: int
    head: str
    line_no: int
    parent: _Node | None = None
    body: list[str] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    @property
    def rank(self) -> int:
        return _RANK.get(self.kind, -1)


def _outline(lines: list[str]) -> tuple[_Node, list[_Node], bool]:
    """The heading tree of the text, every heading node in document order, and whether it was cut."""
    root = _Node(kind="root", number=0, head="", line_no=-1)
    stack = [root]
    nodes: list[_Node] = []
    cut = False
    for line_no, line in enumerate(lines):
        heading = _match_heading(line)
        if heading is None:
            stack[-1].body.append(line)
            continue
        if len(nodes) >= MAX_HEADINGS:
            cut = True
            break
        kind, number, head = heading
        rank = _RANK[kind]
        while len(stack) > 1 and stack[-1].rank >= rank:
            stack.pop()
        node = _Node(kind=kind, number=number, head=head, line_no=line_no, parent=stack[-1])
        stack[-1].children.append(node)
        stack.append(node)
        nodes.append(node)
    for node in [root, *nodes]:
        _drop_trailing_signature(node)
    return root, nodes, cut


_TERMINAL = "。!！?？;；…"


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _drop_trailing_signature(node: _Node) -> None:
    """A section's last lines may be the signature and date ("中共温州市民政局党组", "2022年7月28日").

    They are short and unterminated, and follow a finished sentence; a hard-wrapped sentence
    follows an unfinished one, so it is kept.
    """
    body = node.body
    keep = len(body)
    while keep > 0 and len(body[keep - 1]) <= 25 and body[keep - 1][-1] not in _TERMINAL:
        keep -= 1
    if keep == len(body):
        return
    before = body[keep - 1] if keep > 0 else node.head
    if not before or before[-1] in _TERMINAL:
        del body[keep:]


def _separator_after(line: str) -> str:
    """ "。" after a short unterminated line (a title such as "加强制度建设"), nothing after a long
    one: PDF copies break lines mid-sentence ("继续加强对" / "民政执法人员的培训")."""
    return "。" if line and not _is_punctuation(line[-1]) and len(line) < 20 else ""


def _join(lines: list[str]) -> str:
    """Join whole lines of one passage."""
    out: list[str] = []
    previous = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        out.append(_separator_after(previous) + line)
        previous = line
    return "".join(out)


def _node_text(node: _Node) -> str:
    return _join([node.head, *node.body])


# --- quotes and titles ----------------------------------------------------------------------

_QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", '"': '"', "‘": "’", "《": "》", "＂": "＂", "'": "'"}


# Jumping from quote mark to quote mark keeps a megabyte without a closing quote cheap.
_QUOTE_MARKS = {
    opener: re.compile(f"[{re.escape(opener)}{re.escape(closer)}]")
    for opener, closer in _QUOTE_PAIRS.items()
    if opener != closer
}


def _quoted_span(text: str, start: int) -> tuple[str, int] | None:
    """(inner text, index after the closing quote) for the quote opening at ``start``; nested
    “…“…”…” pairs are skipped over."""
    opener = text[start]
    closer = _QUOTE_PAIRS.get(opener)
    if closer is None:
        return None
    if opener == closer:
        end = text.find(closer, start + 1)
        return (text[start + 1 : end], end + 1) if end >= 0 else None
    depth = 0
    for match in _QUOTE_MARKS[opener].finditer(text, start + 1):
        if match.group() == closer:
            if depth == 0:
                return text[start + 1 : match.start()], match.end()
            depth -= 1
        else:
            depth += 1
    return None


_TRIM_CHARS = " ,，、:：;；。.．!！?？"


def _trim(text: str) -> str:
    return text.strip(_TRIM_CHARS)


def _unquote(text: str) -> str:
    """“工作机制有待进一步完善” → 工作机制有待进一步完善, only when the quote spans the whole text."""
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS:
        span = _quoted_span(text, 0)
        if span and span[1] == len(text):
            return span[0].strip()
    return text


_TITLE_SUFFIXES = (
    "问题的整改情况",
    "的整改情况",
    "整改情况",
    "存在的主要问题",
    "存在的突出问题",
    "存在的问题",
    "存在问题",
    "方面的问题",
    "的问题",
    "问题",
)
_SENTENCE_END = re.compile("[。;；!！?？]")


def _strip_title_suffix(text: str) -> tuple[str, str]:
    """(text without a trailing 问题的整改情况-style phrase, the phrase)."""
    for suffix in _TITLE_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)], suffix
    return text, ""


def _category_title(head: str) -> tuple[str, str]:
    """(title, the text after the title on the heading line) for a category heading."""
    text = head.strip()
    about = text.startswith("关于")
    if about:
        text = text[2:].lstrip()
    if text and text[0] in _QUOTE_PAIRS:
        span = _quoted_span(text, 0)
        if span is not None:
            inner, end = span
            rest = text[end:].lstrip()
            for suffix in (
                "方面问题的整改情况",
                "问题的整改情况",
                "方面的问题",
                "的整改情况",
                "整改情况",
                "的问题",
                "问题",
                "方面",
            ):
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            return _trim(inner) or _trim(text), rest.lstrip(_TRIM_CHARS)
    match = _SENTENCE_END.search(text)
    title, rest = (text[: match.start()], text[match.end() :]) if match else (text, "")
    title = _trim(title)
    if about:
        title, _suffix = _strip_title_suffix(title)
    return _trim(_unquote(title)), rest.lstrip(_TRIM_CHARS)


_PROBLEM_COLON = re.compile("问题[:：,，。;；]|[:：]")


def _targeted_problem(head: str) -> tuple[str, str] | None:
    """ "针对“X”问题:Y" → (X, Y); also 关于“X”的问题 and unquoted 针对X问题:Y."""
    text = head.strip()
    if text.startswith("针对"):
        text = text[2:].lstrip()
    elif text.startswith("关于"):
        text = text[2:].lstrip()
        if "问题" not in text[:400]:
            return None
    else:
        return None
    if text and text[0] in _QUOTE_PAIRS:
        span = _quoted_span(text, 0)
        if span is not None:
            inner, end = span
            rest = text[end:].lstrip()
            for suffix in ("的问题", "问题", "方面"):
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            return _trim(inner), rest.lstrip(_TRIM_CHARS)
    match = _PROBLEM_COLON.search(text)
    if match is None:
        return None
    description = text[: match.start()]
    description, _suffix = _strip_title_suffix(_trim(description))
    return _trim(_unquote(_trim(description))), text[match.end() :].lstrip(_TRIM_CHARS)


# --- measures -------------------------------------------------------------------------------

# "一是…二是…": the numeral must follow punctuation, a space or the start of a passage, so
# 统一是 or 第一是 never count.
_ORDINAL_CLAUSE = re.compile(f'(?<![^\\s。;；!！?？:：,，、)）”"’】\\]…])([{_CN_NUMERAL}]{{1,8}})是')


def _split_ordinals(paragraphs: list[str], *, first_is_line_tail: bool = False) -> tuple[str, list[str]]:
    """(text before the first clause, the clauses) of "一是…二是…三是…" over several paragraphs.

    Clauses must count up from 一; a paragraph that starts a new 一是 list continues the same list
    of measures. A paragraph without clauses after the list has begun is the tail of the last
    measure (document 000, finding 12). ``first_is_line_tail`` says the first paragraph is the end
    of a heading line ("1.针对“…”问题:一是…"), so its length says nothing about being a title.
    """
    lead: list[str] = []
    # Parts are joined once at the end: appending to a growing string per paragraph would be
    # quadratic on a long paste.
    measures: list[list[str]] = []
    expected = 1
    separator = ""
    for index, paragraph in enumerate(paragraphs):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        starts: list[tuple[int, int]] = []  # (marker start, text start)
        restarts = False
        for match in _ORDINAL_CLAUSE.finditer(paragraph):
            try:
                value = from_chinese_numeral(match.group(1))
            except ValueError:
                continue
            if value == expected or (value == 1 and expected > 1):
                if not starts and value == 1 and expected > 1:
                    restarts = True
                starts.append((match.start(), match.end()))
                expected = value + 1
        if not starts:
            (measures[-1] if measures else lead).append(separator + paragraph)
        else:
            before = paragraph[: starts[0][0]]
            if not measures:
                lead.append(separator + before)
            elif not restarts:
                measures[-1].append(separator + before)
            # A new "一是" list's own introduction belongs to no single measure; it is left out.
            for position, (_marker, text_start) in enumerate(starts):
                end = starts[position + 1][0] if position + 1 < len(starts) else len(paragraph)
                measures.append([paragraph[text_start:end]])
        separator = "" if index == 0 and first_is_line_tail else _separator_after(paragraph)
    texts = [_trim("".join(parts)) for parts in measures]
    return _trim("".join(lead)), [text for text in texts if text]


# --- reading the text -----------------------------------------------------------------------

_TITLE_KEYWORDS = re.compile("关于|报告|通报|意见|情况|方案|整改|反馈|评议|巡察|审计|督查|调研|台账|清单")
_DATE_ONLY = re.compile(r"[\d年月日.\-/]+|时间[:：].*")


def _guess_title(lines: list[str]) -> str:
    for line in lines[:40]:
        if _match_heading(line) is not None or len(line) > 80:
            break
        if len(line) < 4 or len(line) > 60 or line[-1] in _TERMINAL + ":：,，" or _DATE_ONLY.fullmatch(line):
            continue
        if line.startswith(("——", "--", "—")):
            continue
        if _TITLE_KEYWORDS.search(line):
            return _trim(line)
    return ""


@dataclass
class _RawFinding:
    description: str
    measures: list[str]
    written_number: int | None
    category: int | None  # index into the categories list


@dataclass
class _Builder:
    titles: list[tuple[str, int | None]] = field(default_factory=list)  # (title, written number)
    findings: list[_RawFinding] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """Past the caps: readers stop here, so a hostile paste costs no more than a large ledger."""
        return len(self.findings) > MAX_FINDINGS or len(self.titles) > MAX_CATEGORIES

    def category(self, title: str, written_number: int | None) -> int:
        self.titles.append((title, written_number))
        return len(self.titles) - 1

    def finding(self, description: str, measures: list[str], *, number: int | None, category: int | None) -> None:
        self.findings.append(_RawFinding(description, measures, number, category))


def _child_level(node: _Node) -> list[_Node]:
    """The node's children of its highest-ranked child kind (a numbered list under it)."""
    if not node.children:
        return []
    top = min(child.rank for child in node.children)
    return [child for child in node.children if child.rank == top]


def _finding_from_node(node: _Node) -> tuple[str, list[str]]:
    """(description, measures) of a numbered finding such as "1.针对“…”问题:一是…"."""
    children = _child_level(node)
    child_texts = [_trim(_node_text(child)) for child in children]
    targeted = _targeted_problem(node.head)
    if targeted is not None:
        description, rest = targeted
        lead, measures = _split_ordinals([rest, *node.body], first_is_line_tail=True)
        if not measures:
            measures = child_texts or ([_trim(lead)] if _trim(lead) else [])
        return description, measures
    lead, measures = _split_ordinals([node.head, *node.body])
    if measures:
        description = _trim(lead)
        if description.startswith(("针对", "关于")):
            description = _trim(description[2:])
        for suffix in ("整改措施如下", "整改措施", "主要措施", "具体措施"):
            if description.endswith(suffix):
                description = _trim(description[: -len(suffix)])
        return description or _trim(node.head), measures
    return _trim(_node_text(node)), child_texts


def _category_finding(node: _Node, title: str, rest: str) -> tuple[str, list[str]]:
    """A category that is itself one problem ("(一)关于“…”问题的整改情况。一是…", document 002)."""
    lead, measures = _split_ordinals([rest, *node.body], first_is_line_tail=True)
    if not measures:
        children = _child_level(node)
        measures = [_trim(_node_text(child)) for child in children] or ([_trim(lead)] if _trim(lead) else [])
    return title, measures


def _is_category_like(node: _Node) -> bool:
    head = node.head
    return head.startswith("关于") or "问题的整改情况" in head[:400]


def _majority(values: list[str]) -> str | None:
    return Counter(values).most_common(1)[0][0] if values else None


def _read_targeted(nodes: list[_Node], builder: _Builder) -> bool:
    """Findings written "1.针对“…”问题:" (document 000), grouped under the headings directly above them."""
    finding_kind = _majority([node.kind for node in nodes if node.head.startswith("针对")])
    if finding_kind is None:
        return False
    parent_kinds = [
        node.parent.kind
        for node in nodes
        if node.kind == finding_kind and node.parent is not None and node.parent.kind != "root"
    ]
    category_kind = _majority(parent_kinds)
    category_of: dict[int, int] = {}
    # Parents come before their children in document order, so one pass sees each category
    # before its findings and the findings keep the order of the text.
    for node in nodes:
        if builder.full:
            break
        if node.kind == finding_kind:
            category = category_of.get(id(node.parent)) if node.parent is not None else None
            description, measures = _finding_from_node(node)
            builder.finding(description, measures, number=node.number, category=category)
        elif node.kind == category_kind:
            has_findings = any(child.kind == finding_kind for child in node.children)
            if not has_findings and not _is_category_like(node):
                continue
            title, rest = _category_title(node.head)
            index = builder.category(title, node.number)
            category_of[id(node)] = index
            if not has_findings:
                description, measures = _category_finding(node, title, rest)
                builder.finding(description, measures, number=None, category=index)
    return True


def _read_about_headings(nodes: list[_Node], builder: _Builder) -> bool:
    """Categories written "(一)关于“…”" (document 002), with or without numbered findings under them."""
    about = [node for node in nodes if _is_category_like(node)]
    category_kind = _majority([node.kind for node in about])
    if category_kind is None:
        return False
    parents = {id(node.parent) for node in about if node.kind == category_kind}
    for node in nodes:
        if builder.full:
            break
        if node.kind != category_kind or id(node.parent) not in parents:
            continue
        title, rest = _category_title(node.head)
        index = builder.category(title, node.number)
        children = _child_level(node)
        reports_one_problem = "整改情况" in node.head[:400] or "整改措施" in node.head[:400]
        if children and not reports_one_problem:
            for child in children:
                description, measures = _finding_from_node(child)
                builder.finding(description, measures, number=child.number, category=index)
        else:
            description, measures = _category_finding(node, title, rest)
            builder.finding(description, measures, number=None, category=index)
    return True


_PROBLEM_SECTION = re.compile("问题|不足|差距|短板|困难")
_NOT_PROBLEM_SECTION = re.compile("整改情况|建议|打算|措施|下一步|针对|关于")
_PLAN_SECTION = re.compile("建议|打算|下一步|措施|方向|对策|思路|计划|整改意见")


def _short_title(node: _Node) -> str:
    match = _SENTENCE_END.search(node.head)
    return _trim(node.head[: match.start()] if match else node.head)


def _sentences(text: str) -> list[str]:
    parts = [_trim(part) for part in _SENTENCE_END.split(text)]
    return [part for part in parts if len(part) >= 4]


def _read_problem_sections(nodes: list[_Node], builder: _Builder) -> bool:
    """Reports without a rectification layout: "存在问题" lists the findings (documents 001, 003, 004)."""

    def is_problem_section(node: _Node) -> bool:
        if not _PROBLEM_SECTION.search(node.head, 0, 40):
            return False
        title = _short_title(node)
        return len(title) <= 20 and bool(_PROBLEM_SECTION.search(title)) and not _NOT_PROBLEM_SECTION.search(title)

    def inside(node: _Node, ancestors: set[int]) -> bool:
        parent = node.parent
        while parent is not None:
            if id(parent) in ancestors:
                return True
            parent = parent.parent
        return False

    sections: list[_Node] = []
    section_ids: set[int] = set()
    for node in nodes:
        if is_problem_section(node) and not inside(node, section_ids):
            sections.append(node)
            section_ids.add(id(node))
    if not sections:
        return False

    finding_count_before = len(builder.findings)
    for section in sections:
        if builder.full:
            break
        children = _child_level(section)
        if any(child.children for child in children):
            for child in children:
                if builder.full:
                    break
                index = builder.category(_short_title(child), child.number)
                grandchildren = _child_level(child)
                if grandchildren:
                    for grandchild in grandchildren[: MAX_FINDINGS + 1]:
                        description, measures = _finding_from_node(grandchild)
                        builder.finding(description, measures, number=grandchild.number, category=index)
                else:
                    builder.finding(_trim(_node_text(child)), [], number=child.number, category=index)
            continue
        # The section's own number ("五、存在问题") is its place in the report, not a category order.
        index = builder.category(_short_title(section), None)
        if children:
            for child in children[: MAX_FINDINGS + 1]:
                description, measures = _finding_from_node(child)
                builder.finding(description, measures, number=child.number, category=index)
        else:
            body = _join(section.body)
            colon = max(body.rfind(":"), body.rfind("："))
            for sentence in _sentences(body[colon + 1 :] if colon >= 0 else body)[: MAX_FINDINGS + 1]:
                builder.finding(sentence, [], number=None, category=index)

    first_section_line = sections[0].line_no
    plans: list[_Node] = []
    plan_ids: set[int] = set()
    for node in nodes:
        if node.line_no <= first_section_line or id(node) in section_ids or inside(node, section_ids):
            continue
        title = _short_title(node)
        if len(title) <= 20 and _PLAN_SECTION.search(title) and not inside(node, plan_ids):
            plans.append(node)
            plan_ids.add(id(node))
    plan_measures: list[str] = []
    for plan in plans:
        if len(plan_measures) > MAX_MEASURES_PER_FINDING:
            break
        children = _child_level(plan)
        if children:
            plan_measures.extend(_trim(_node_text(child)) for child in children)
            continue
        lead, measures = _split_ordinals(plan.body)
        plan_measures.extend(measures or _sentences(lead))
    plan_measures = [measure for measure in plan_measures if measure][:MAX_MEASURES_PER_FINDING]
    new_findings = builder.findings[finding_count_before:]
    if plan_measures:
        if len(new_findings) == 1 and not new_findings[0].measures:
            new_findings[0].measures = plan_measures
        else:
            builder.unassigned.extend(plan_measures)
    builder.warnings.append("原文没有“(一)关于…”“1.针对…”式的问题清单,已从“存在问题”部分识别问题,请逐条核对。")
    return True


def _read_numbered_outline(nodes: list[_Node], builder: _Builder) -> bool:
    """Last resort: the deepest numbered level is the findings, the level above it the categories."""
    if not nodes:
        return False
    kinds = Counter(node.kind for node in nodes)
    if len(kinds) == 1:
        for node in nodes:
            if builder.full:
                break
            description, measures = _finding_from_node(node)
            builder.finding(description, measures, number=node.number, category=None)
    else:
        finding_kind = max(kinds, key=lambda kind: _RANK[kind])
        finding_nodes = [node for node in nodes if node.kind == finding_kind]
        category_index: dict[int, int] = {}
        for node in finding_nodes:
            if builder.full:
                break
            parent = node.parent
            category = None
            if parent is not None and parent.kind != "root":
                if id(parent) not in category_index:
                    category_index[id(parent)] = builder.category(_short_title(parent), parent.number)
                category = category_index[id(parent)]
            description, measures = _finding_from_node(node)
            builder.finding(description, measures, number=node.number, category=category)
    builder.warnings.append("未识别出“关于…”类别标题或“针对…”问题,已按编号层级生成草稿,请仔细核对。")
    return True


_STATED_FINDINGS = re.compile(r"(\d{1,5})个问题")
_STATED_CATEGORIES = re.compile(r"(\d{1,4})个方面")
_STATED_MEASURES = re.compile(r"制定(?:了)?(\d{1,6})(?:条|项)(?:整改)?措施")


def _check_stated_totals(text: str, draft: DraftLedger) -> None:
    """Compare the totals the text states ("5个方面12个问题", "制定145条整改措施") with the draft."""
    findings = draft.findings
    checks = (
        (_STATED_CATEGORIES, len(draft.categories), "个方面", "个类别"),
        (_STATED_FINDINGS, len(findings), "个问题", "个问题"),
        (_STATED_MEASURES, sum(len(f.measures) for f in findings), "条整改措施", "条措施"),
    )
    for pattern, found, stated_unit, found_unit in checks:
        match = pattern.search(text)
        if match is None:
            continue
        stated = int(match.group(1))
        if stated != found:
            draft.warnings.append(f"原文提到{stated}{stated_unit},草稿识别出{found}{found_unit},请核对。")


def _listed(numbers: list[int]) -> str:
    """1、2、3 … for a warning, shortened with 等 past twenty."""
    listed = "、".join(str(number) for number in numbers[:20])
    return listed + ("等" if len(numbers) > 20 else "")


def _assemble(title: str, builder: _Builder) -> DraftLedger:
    draft = DraftLedger(title=title, warnings=list(builder.warnings))
    titles = builder.titles
    if len(titles) > MAX_CATEGORIES:
        draft.warnings.append(f"识别出的类别超过{MAX_CATEGORIES}个,只保留前{MAX_CATEGORIES}个,请检查原文。")
    categories = [
        DraftCategory(order=order, title=category_title)
        for order, (category_title, _number) in enumerate(titles[:MAX_CATEGORIES], start=1)
    ]
    written_orders = [number for _title, number in titles[:MAX_CATEGORIES] if number is not None]
    if written_orders and written_orders != list(range(1, len(written_orders) + 1)):
        draft.warnings.append("原文类别序号不连续或有重复,已按出现顺序重新编号,请核对是否漏识别。")

    raw_findings = builder.findings
    if len(raw_findings) > MAX_FINDINGS:
        draft.warnings.append(f"识别出的问题超过{MAX_FINDINGS}个,只保留前{MAX_FINDINGS}个,请检查原文。")
        raw_findings = raw_findings[:MAX_FINDINGS]
    written = [raw.written_number for raw in raw_findings if raw.written_number is not None]
    if written and written != list(range(1, len(written) + 1)):
        draft.warnings.append("原文问题编号不连续或有重复,已按出现顺序重新编号,请核对。")
    without_measures: list[int] = []
    without_description: list[int] = []
    truncated_measures = False
    for number, raw in enumerate(raw_findings, start=1):
        texts = [text for text in raw.measures if text]
        if len(texts) > MAX_MEASURES_PER_FINDING:
            truncated_measures = True
            texts = texts[:MAX_MEASURES_PER_FINDING]
        finding = DraftFinding(
            number=number,
            description=raw.description,
            measures=[DraftMeasure(number=index, text=text) for index, text in enumerate(texts, start=1)],
        )
        if not finding.measures:
            without_measures.append(number)
        if not finding.description:
            without_description.append(number)
        if raw.category is not None and raw.category < len(categories):
            categories[raw.category].findings.append(finding)
        else:
            draft.uncategorized_findings.append(finding)
    draft.categories = categories
    draft.unassigned_measures = [
        DraftMeasure(number=index, text=text) for index, text in enumerate(builder.unassigned, start=1)
    ]
    if truncated_measures:
        draft.warnings.append(
            f"部分问题的整改措施超过{MAX_MEASURES_PER_FINDING}条,只保留前{MAX_MEASURES_PER_FINDING}条。"
        )
    if without_measures:
        draft.warnings.append(f"第{_listed(without_measures)}号问题未识别出整改措施,请手工补充。")
    if without_description:
        draft.warnings.append(f"第{_listed(without_description)}号问题的描述为空,请手工补充。")
    untitled = [category.order for category in categories if not category.title]
    if untitled:
        draft.warnings.append(f"第{_listed(untitled)}个类别的名称为空,请手工补充。")
    if draft.uncategorized_findings:
        draft.warnings.append(f"有{len(draft.uncategorized_findings)}个问题不在任何类别标题下,请为其指定类别。")
    if draft.unassigned_measures:
        draft.warnings.append(
            f"识别出{len(draft.unassigned_measures)}条整改措施或建议,但无法对应到具体问题,请手工分配。"
        )
    return draft


def _parse(text: str) -> DraftLedger:
    lines = _clean_lines(text)
    title = _guess_title(lines)
    _root, nodes, cut = _outline(lines)
    builder = _Builder()
    if cut:
        builder.warnings.append(f"文本中的编号标题超过{MAX_HEADINGS}个,只读取了前{MAX_HEADINGS}个,请检查原文。")
    for reader in (_read_targeted, _read_about_headings, _read_problem_sections, _read_numbered_outline):
        if reader(nodes, builder):
            break
    draft = _assemble(title, builder)
    if draft.is_empty:
        return DraftLedger(title=title, warnings=[UNPARSEABLE_WARNING])
    _check_stated_totals("\n".join(lines), draft)
    return draft


def parse_feedback(text: str) -> DraftLedger:
    """A draft ledger from a pasted feedback or report text; never raises.

    An unreadable text gives an empty draft whose warnings say so, for the user to fill by hand.
    """
    if text is None:
        text = ""
    elif isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    try:
        return _parse(text)
    except Exception:
        # The draft is reviewed by hand anyway: a parser bug must cost the user the automatic
        # draft, not the page. The fuzz tests assert this branch is never taken.
        logger.exception("feedback parser failed on a %d-character text", len(text))
        return DraftLedger(warnings=[INTERNAL_ERROR_WARNING, UNPARSEABLE_WARNING])
