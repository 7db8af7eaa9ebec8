import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rectify.common.chinese_numerals import (
    MAX_CHINESE_NUMERAL,
    NUMERAL_CHARACTERS,
    chinese_ordinal_clause,
    chinese_ordinal_heading,
    from_chinese_numeral,
    to_chinese_numeral,
)


@pytest.mark.parametrize(
    ("number", "numeral"),
    [
        (0, "零"),
        (1, "一"),
        (10, "十"),
        (14, "十四"),
        (20, "二十"),
        (21, "二十一"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (1010, "一千零一十"),
        (1012, "一千零一十二"),
        (10000, "一万"),
        (10010, "一万零一十"),
        (100000, "十万"),
        (150000, "十五万"),
        # 每级末尾的0不读: the empty tail of the 万 level is silent, a gap inside a level is one 零.
        (10005000, "一千万五千"),
        (10000500, "一千万零五百"),
        (100000005, "一亿零五"),
        (100050000, "一亿零五万"),
        (99999999, "九千九百九十九万九千九百九十九"),
        (10**12, "一万亿"),
        (10**12 + 5, "一万亿零五"),
        (10**12 + 10**8, "一万零一亿"),
    ],
)
def test_to_chinese_numeral_reads_like_a_person(number, numeral):
    assert to_chinese_numeral(number) == numeral
    assert from_chinese_numeral(numeral) == number


def test_ten_is_colloquial_only_at_the_start():
    for number in range(10, 20):
        assert to_chinese_numeral(number).startswith("十")
    for number in range(100, 1000):
        assert not to_chinese_numeral(number).startswith("十")
    assert "一十" in to_chinese_numeral(110)
    assert "一十" in to_chinese_numeral(100_010)


def test_round_trip_up_to_a_hundred_thousand():
    for number in range(0, 100_001):
        numeral = to_chinese_numeral(number)
        assert from_chinese_numeral(numeral) == number, numeral


@settings(max_examples=500)
@given(st.integers(min_value=0, max_value=MAX_CHINESE_NUMERAL))
def test_round_trip_for_large_values(number):
    assert from_chinese_numeral(to_chinese_numeral(number)) == number


@given(st.integers(min_value=0, max_value=MAX_CHINESE_NUMERAL))
def test_numerals_never_repeat_zero_or_end_with_it(number):
    numeral = to_chinese_numeral(number)
    assert "零零" not in numeral
    assert number == 0 or not numeral.endswith("零")


@pytest.mark.parametrize(
    ("numeral", "number"),
    [
        ("一十", 10),
        ("一十四", 14),
        ("两百", 200),
        ("两万", 20000),
        ("〇", 0),
        ("二〇二二", 2022),
        ("壹佰零伍", 105),
        ("拾贰", 12),
        (" 十四 ", 14),
    ],
)
def test_from_chinese_numeral_accepts_the_variants_people_type(numeral, number):
    assert from_chinese_numeral(numeral) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "十十",
        "百",
        "万",
        "亿亿",
        "一亿二亿",
        "零十",
        "十零",
        "一二十",
        "五万六万",
        "abc",
        "十四是",
        "一" * 41,
        None,
    ],
)
def test_from_chinese_numeral_rejects_malformed_text_with_value_error(text):
    with pytest.raises(ValueError):
        from_chinese_numeral(text)


@given(st.text(alphabet=st.sampled_from(NUMERAL_CHARACTERS + "x 是"), max_size=60))
def test_from_chinese_numeral_only_ever_raises_value_error(text):
    try:
        value = from_chinese_numeral(text)
    except ValueError:
        return
    assert 0 <= value <= MAX_CHINESE_NUMERAL


@pytest.mark.parametrize("bad", [-1, MAX_CHINESE_NUMERAL + 1])
def test_to_chinese_numeral_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        to_chinese_numeral(bad)


@pytest.mark.parametrize("bad", [1.0, "3", True, None])
def test_to_chinese_numeral_rejects_non_integers(bad):
    with pytest.raises(TypeError):
        to_chinese_numeral(bad)


def test_ordinal_helpers_for_notices():
    assert chinese_ordinal_heading(1) == "(一)"
    assert chinese_ordinal_heading(14) == "(十四)"
    assert chinese_ordinal_heading(14, fullwidth=True) == "（十四）"
    assert chinese_ordinal_clause(1) == "一是"
    assert chinese_ordinal_clause(21) == "二十一是"
    with pytest.raises(ValueError):
        chinese_ordinal_heading(0)
    with pytest.raises(ValueError):
        chinese_ordinal_clause(0)
