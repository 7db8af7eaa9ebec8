"""The server-drawn SVG charts: well-formed, accessible, escaped, honest about gaps."""

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

from dashboards.charts import Bar, Point, Series, bar_chart, line_chart, shorten, text_width

SVG = "{http://www.w3.org/2000/svg}"
DONE = Series("整改完成率", "#81c784")
SIGNED = Series("销号率", "#2e7d32")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output)


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_bar_chart_is_an_accessible_image_with_title_and_description():
    svg = bar_chart(
        chart_id="c1",
        title="各检查整改完成率",
        desc="每行一项检查",
        bars=[Bar("市委第一巡察组巡察", (Decimal("99.31"), Decimal("50.00")), "超期 1")],
        series=[DONE, SIGNED],
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "各检查整改完成率"
    assert root.find(f"{SVG}desc").text == "每行一项检查"
    assert "99.31% · 超期 1" in texts(root)
    assert "市委第一巡察组巡察" in texts(root)
    assert {"整改完成率", "销号率"} <= set(texts(root))  # the legend


def test_bar_lengths_follow_the_values():
    root = parse(
        bar_chart(
            chart_id="c",
            title="t",
            desc="d",
            bars=[Bar("甲", (Decimal(100),)), Bar("乙", (Decimal(25),))],
            series=[DONE],
        )
    )
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == DONE.color and float(r.get("height")) > 12]
    full, quarter = (float(r.get("width")) for r in bars)
    assert abs(quarter / full - 0.25) < 0.01


def test_labels_and_titles_are_escaped():
    svg = bar_chart(
        chart_id='x"><script>',
        title="<script>alert(1)</script>",
        desc="a & b",
        bars=[Bar("<b>粗</b>", (None,), "<i>")],
        series=[DONE],
    )
    assert "<script>" not in svg
    assert "<b>" not in svg and "<i>" not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script>"


def test_a_bar_without_a_value_shows_a_dash_not_zero():
    root = parse(bar_chart(chart_id="c", title="t", desc="d", bars=[Bar("空", (None, None))], series=[DONE, SIGNED]))
    assert "—" in texts(root)
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("fill") == DONE.color and r.get("width") != "12"]


def test_long_chinese_labels_are_shortened_to_fit_with_the_full_label_in_a_tooltip():
    label = "十四届市委第一轮巡察第六巡察组对市民政局党组巡察“回头看”反馈问题整改"
    root = parse(bar_chart(chart_id="c", title="t", desc="d", bars=[Bar(label, (Decimal(50),))], series=[DONE]))
    shown = [t for t in texts(root) if t.endswith("…")]
    assert shown and label.startswith(shown[0][:-1])
    assert any(label in (t.text or "") for t in root.iter(f"{SVG}title"))


def test_text_width_counts_chinese_characters_as_one_em():
    assert text_width("整改", 10) == 20
    assert text_width("ab", 10) < 12
    assert text_width(shorten("整改完成率整改完成率", 55, 10), 10) <= 55


def test_empty_charts_say_there_is_no_data():
    assert "暂无数据" in texts(parse(bar_chart(chart_id="c", title="t", desc="d", bars=[], series=[DONE])))
    assert "暂无数据" in texts(parse(line_chart(chart_id="c", title="t", desc="d", lines=[(DONE, [])])))


def test_line_chart_draws_each_series_and_labels_the_latest_value():
    day = dt.date(2024, 3, 1)
    points = [Point(day + dt.timedelta(days=i), Decimal(90 + i)) for i in range(5)]
    root = parse(
        line_chart(chart_id="trend", title="整改完成率趋势", desc="近 90 天", lines=[(DONE, points), (SIGNED, [])])
    )
    assert root.get("role") == "img"
    polylines = list(root.iter(f"{SVG}polyline"))
    assert len(polylines) == 1
    assert len(polylines[0].get("points").split()) == 5
    assert "94.00%" in texts(root)
    assert "3月1日" in texts(root) and "3月5日" in texts(root)
    # Rates of 90–94% start the axis at 90%, not 0%, and the axis says so.
    assert "90%" in texts(root) and "0%" not in texts(root)


def test_a_missing_day_breaks_the_line_instead_of_drawing_zero():
    day = dt.date(2024, 3, 1)
    values = [Decimal(50), Decimal(60), None, Decimal(70), Decimal(80)]
    points = [Point(day + dt.timedelta(days=i), v) for i, v in enumerate(values)]
    root = parse(line_chart(chart_id="c", title="t", desc="d", lines=[(DONE, points)]))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


def test_a_single_day_is_drawn_as_a_point():
    root = parse(
        line_chart(chart_id="c", title="t", desc="d", lines=[(DONE, [Point(dt.date(2024, 1, 1), Decimal(5))])])
    )
    assert len(list(root.iter(f"{SVG}circle"))) == 1
    assert "5.00%" in texts(root)
