"""The kind of an inspection (Inspection.kind) guessed from what its papers are called, for the
draft editor to preselect and the ledger import to give a new inspection.

Feedback titles name their occasion ("市委第一巡察组关于巡察市民政局党组的反馈意见", "审计局关于…
的审计报告"), so the title is read first. Without one, only the opening of the text is read:
further in, a feedback text mentions every other kind in passing (a survey report cites past
督查, an annual report the year's 审计), and the first kind found there is usually wrong.
"""

import re

from findings.models import InspectionKind

# Most specific first: a look-back also says 巡察, an appraisal report also says 调研.
_KIND_WORDS = (
    (re.compile("回头看"), InspectionKind.PATROL_LOOKBACK),
    (re.compile("巡察|巡视"), InspectionKind.PATROL),
    (re.compile("评议"), InspectionKind.CONGRESS_APPRAISAL),
    (re.compile("审计"), InspectionKind.AUDIT),
    (re.compile("督查|督察"), InspectionKind.SUPERVISION),
    (re.compile("调研"), InspectionKind.SURVEY),
    (re.compile("信访"), InspectionKind.PETITION),
    (re.compile("自查"), InspectionKind.SELF_REVIEW),
)

# The heading area of a pasted text: the title, a published notice's index lines and the first
# sentence ("根据市委统一部署,…市委第一巡察组对…开展了巡察“回头看”").
OPENING_CHARACTERS = 400


def _kind_named_in(text: str) -> str | None:
    for pattern, kind in _KIND_WORDS:
        if pattern.search(text):
            return kind
    return None


def guess_inspection_kind(title: str, text: str = "") -> str:
    """The kind `title` names, else the kind the opening of `text` names, else 其他."""
    return _kind_named_in(title or "") or _kind_named_in((text or "")[:OPENING_CHARACTERS]) or InspectionKind.OTHER
