from pathlib import Path

import pytest

from findings.kinds import OPENING_CHARACTERS, guess_inspection_kind
from findings.models import InspectionKind as K

SEEDS = Path(__file__).parent.parent / "drafts" / "data"


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("市委第一巡察组关于巡察市民政局党组的反馈意见", K.PATROL),
        ("十届市委第三轮巡视反馈问题整改清单", K.PATROL),
        ("市委第一巡察组对市民政局党组巡察“回头看”反馈意见", K.PATROL_LOOKBACK),
        ('关于巡察"回头看"反馈问题整改进展情况的报告', K.PATROL_LOOKBACK),
        ("市人大常委会关于评议市民政局工作的意见", K.CONGRESS_APPRAISAL),
        ("关于对市民政局评议整改工作的评估报告", K.CONGRESS_APPRAISAL),
        ("市审计局关于2021年度市民政局预算执行情况的审计报告", K.AUDIT),
        ("2022年养老机构安全生产专项督查反馈问题", K.SUPERVISION),
        ("省民政厅督察组反馈意见", K.SUPERVISION),
        ("关于我县基层民政服务能力建设情况的调研报告", K.SURVEY),
        ("2022年信访问题交办整改清单", K.PETITION),
        ("2021年社会救助领域自查自纠问题清单", K.SELF_REVIEW),
        ("2020年法治政府建设年度报告", K.OTHER),
        ("", K.OTHER),
    ],
)
def test_the_kind_a_title_names(title, kind):
    assert guess_inspection_kind(title) == kind


def test_the_title_decides_before_the_text():
    text = "根据工作安排,对全市养老服务开展专项督查。" + "巡察" * 10
    assert guess_inspection_kind("关于基层民政服务能力的调研报告", text) == K.SURVEY


def test_without_a_title_the_opening_of_the_text_decides_not_what_it_mentions_later():
    opening = "2020年,我局深入贯彻落实全面推进依法行政的各项要求。"
    later = "配合完成年度审计,做好信访工作。"
    text = opening + "。" * OPENING_CHARACTERS + later
    assert guess_inspection_kind("", text) == K.OTHER
    assert guess_inspection_kind("", later + text) == K.AUDIT


@pytest.mark.parametrize(
    ("seed", "kind"),
    [("seed_000.txt", K.CONGRESS_APPRAISAL), ("seed_002.txt", K.PATROL_LOOKBACK)],
)
def test_the_published_reports_are_recognised_from_their_opening(seed, kind):
    # 000 is titled as an appraisal; 002 has no title, only a notice's index lines and then
    # "…市委第一巡察组对市民政局党组开展了巡察“回头看”", though it mentions 巡察 first.
    text = (SEEDS / seed).read_text(encoding="utf-8")
    assert guess_inspection_kind("", text) == kind
