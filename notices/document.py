"""A notice's text as a Word document laid out like an official document (公文, GB/T 9704).

A4 with the standard margins; the title and the "一、" headings in 黑体, the "(一)…" leads in
楷体, the body in 仿宋, all 3号 (16 pt) but the title at 2号 (22 pt); first-line indent of two
characters; page numbers "— 1 —" in the footer. Only font names are set: a machine without
仿宋 shows Word's substitute, and the office's copy of Word shows the real thing.

Chinese font names must go into w:rFonts/@w:eastAsia: python-docx's `font.name` sets only the
Latin slots, which Word ignores for Chinese characters.
"""

from __future__ import annotations

from io import BytesIO

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph

from notices.builder import notice_blocks

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
LEAD_FONT = "楷体"
LATIN_FONT = "Times New Roman"
SIZE_BODY = Pt(16)  # 三号
SIZE_TITLE = Pt(22)  # 二号
SIZE_PAGE_NUMBER = Pt(14)  # 四号
# 22 lines of 28 characters on a page: a fixed 28-point line, as the standard lays it out.
LINE_SPACING = Pt(28)


def _set_fonts(rpr_owner: object, east_asian: str, size: Pt | None = None, bold: bool | None = None) -> None:
    """Latin and east-Asian font of a style or a run."""
    font = rpr_owner.font  # type: ignore[attr-defined]
    font.name = LATIN_FONT
    if size is not None:
        font.size = size
    if bold is not None:
        font.bold = bold
    rpr = rpr_owner.element.get_or_add_rPr()  # type: ignore[attr-defined]
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    rfonts.set(qn("w:eastAsia"), east_asian)
    rfonts.set(qn("w:ascii"), LATIN_FONT)
    rfonts.set(qn("w:hAnsi"), LATIN_FONT)


def _paragraph_style(
    document: Document, name: str, east_asian: str, size: Pt, *, outline_level: int | None = None
) -> ParagraphStyle:
    style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = document.styles["Normal"]
    _set_fonts(style, east_asian, size)
    if outline_level is not None:
        # Headings show in Word's navigation pane without borrowing the built-in Heading
        # styles, whose theme fonts and colours are not an official document's.
        outline = OxmlElement("w:outlineLvl")
        outline.set(qn("w:val"), str(outline_level))
        style.element.get_or_add_pPr().append(outline)
    return style


def _page_number_footer(document: Document) -> None:
    paragraph = document.sections[0].footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def run(text: str = "") -> object:
        r = paragraph.add_run(text)
        _set_fonts(r, "宋体", SIZE_PAGE_NUMBER)
        return r

    run("— ")
    # A complex field (begin / instruction / separate / end) rather than w:fldSimple: every
    # Word and WPS version updates it, and the "1" is what a reader without fields sees.
    for kind, instruction in (("begin", None), (None, " PAGE "), ("separate", None)):
        r = run()
        if kind is not None:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = instruction
        r.element.append(element)  # type: ignore[attr-defined]
    run("1")
    end = run()
    element = OxmlElement("w:fldChar")
    element.set(qn("w:fldCharType"), "end")
    end.element.append(element)  # type: ignore[attr-defined]
    run(" —")


def _format(paragraph: Paragraph, *, indent: bool = True) -> None:
    fmt = paragraph.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = LINE_SPACING
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    if indent:
        fmt.first_line_indent = Pt(32)  # two characters of 16 pt


def notice_docx(text: str) -> bytes:
    """The .docx of a notice's text (generated or edited by the office)."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(20)

    _set_fonts(document.styles["Normal"], BODY_FONT, SIZE_BODY)
    title_style = _paragraph_style(document, "通报标题", HEADING_FONT, SIZE_TITLE, outline_level=0)
    heading_style = _paragraph_style(document, "通报一级标题", HEADING_FONT, SIZE_BODY, outline_level=1)
    _page_number_footer(document)

    for block in notice_blocks(text):
        if block.kind == "title":
            paragraph = document.add_paragraph(block.text, style=title_style)
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _format(paragraph, indent=False)
            paragraph.paragraph_format.line_spacing = Pt(36)
            paragraph.paragraph_format.space_after = Pt(28)  # one blank line under the title
        elif block.kind == "heading":
            paragraph = document.add_paragraph(block.text, style=heading_style)
            _format(paragraph)
        elif block.kind == "signature":
            paragraph = document.add_paragraph(block.text)
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            _format(paragraph, indent=False)
            paragraph.paragraph_format.right_indent = Pt(64)
        else:
            paragraph = document.add_paragraph()
            if block.lead:
                _set_fonts(paragraph.add_run(block.lead), LEAD_FONT)
            if block.text:
                paragraph.add_run(block.text)
            _format(paragraph)
    out = BytesIO()
    document.save(out)
    return out.getvalue()
