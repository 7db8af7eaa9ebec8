"""Chinese numerals (中文数字) for headings and ordinals: 十四, 二十一, 一百零五, 一千零一十.

Plain Python with no Django, shared by the notice generator ("(十四)关于…", "十一是…") and the
feedback parser, which reads them back.

Reading follows the school rule for 读数 (每级末尾的0不读, 其余连续的0只读一个零), so
10 005 000 is 一千万五千 and 100 000 005 is 一亿零五, and a number that starts with 一十 is said
with the colloquial 十 (十四, 十万) while 一十 stays inside a number (一千零一十).
"""

DIGITS = "零一二三四五六七八九"
# 万亿 (10**12) is the largest unit we write; beyond it Chinese switches to 兆 or 万万亿,
# which nobody numbers a heading or a finding with.
MAX_CHINESE_NUMERAL = 10**16 - 1

_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10**4, "亿": 10**8}
_DIGIT_VALUES = {
    **{ch: value for value, ch in enumerate(DIGITS)},
    "〇": 0,
    "两": 2,
    # 大写 forms appear in amounts and occasionally in headings copied from finance documents.
    "壹": 1,
    "贰": 2,
    "叁": 3,
    "肆": 4,
    "伍": 5,
    "陆": 6,
    "柒": 7,
    "捌": 8,
    "玖": 9,
}
_UNIT_ALIASES = {"拾": "十", "佰": "百", "仟": "千", "萬": "万", "億": "亿"}
# Longer inputs are not numbers anybody writes; refusing them keeps every call cheap.
_MAX_INPUT_LENGTH = 40

NUMERAL_CHARACTERS = "".join(_DIGIT_VALUES) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS) + "".join(_UNIT_ALIASES)


def _group_to_chinese(group: int) -> str:
    """0 < group < 10000, without leading 零 (the caller decides whether the gap is read)."""
    out: list[str] = []
    pending_zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = group // value % 10
        if digit == 0:
            if out:
                pending_zero = True
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + unit)
    return "".join(out)


def to_chinese_numeral(n: int) -> str:
    """0 → 零, 10 → 十, 14 → 十四, 105 → 一百零五, 1010 → 一千零一十, 100000 → 十万."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"to_chinese_numeral expects an int, got {type(n).__name__}")
    if n < 0 or n > MAX_CHINESE_NUMERAL:
        raise ValueError(f"{n} is outside 0..{MAX_CHINESE_NUMERAL}")
    if n == 0:
        return "零"
    groups = [(n // 10**12) % 10**4, (n // 10**8) % 10**4, (n // 10**4) % 10**4, n % 10**4]
    units = ["万亿", "亿", "万", ""]
    out: list[str] = []
    zero_gap = False
    for group, unit in zip(groups, units, strict=True):
        if group == 0:
            # A whole empty 级 between two non-empty ones is read as a single 零.
            zero_gap = zero_gap or bool(out)
            continue
        if out and (zero_gap or group < 1000):
            out.append("零")
        out.append(_group_to_chinese(group))
        # 万亿 and 亿 share the 亿: 一万亿 is written once, not 一万亿亿.
        if unit == "万亿" and n % 10**12 >= 10**8:
            out.append("万")
        else:
            out.append(unit)
        zero_gap = False
    text = "".join(out)
    if text.startswith("一十"):
        text = text[1:]
    return text


def from_chinese_numeral(s: str) -> int:
    """The inverse: 十四 → 14, 一百零五 → 105, also 两, 〇, 一十, 大写 and plain digit runs (二〇二二 → 2022).

    Raises ValueError for anything that is not a well-formed numeral; it never raises anything else,
    so a parser can try it on whatever text it meets.
    """
    if not isinstance(s, str):
        raise ValueError("not a string")
    text = s.strip()
    if not text or len(text) > _MAX_INPUT_LENGTH:
        raise ValueError(f"not a Chinese numeral: {s!r}")
    text = "".join(_UNIT_ALIASES.get(ch, ch) for ch in text)
    if any(ch not in _DIGIT_VALUES and ch not in _SMALL_UNITS and ch not in _BIG_UNITS for ch in text):
        raise ValueError(f"not a Chinese numeral: {s!r}")

    # Digit-by-digit numbers (years such as 二〇二二, or 一二 in lists) have no units at all.
    if all(ch in _DIGIT_VALUES for ch in text):
        if len(text) == 1:
            return _DIGIT_VALUES[text]
        return int("".join(str(_DIGIT_VALUES[ch]) for ch in text))

    total = 0  # everything already multiplied by 亿
    section = 0  # below the last 亿, including a finished 万 part
    group = 0  # below the last 万 / 亿
    digit: int | None = None
    last_small_unit = 10**5  # units inside a group must fall: 千 > 百 > 十
    seen_wan_in_section = False
    seen_yi = False
    previous = ""
    for ch in text:
        if ch in _DIGIT_VALUES:
            if digit is not None and digit != 0:
                raise ValueError(f"two digits without a unit in {s!r}")
            value = _DIGIT_VALUES[ch]
            if value == 0:
                if previous == "零" or previous == "〇":
                    raise ValueError(f"repeated 零 in {s!r}")
                digit = 0
            else:
                digit = value
        elif ch in _SMALL_UNITS:
            unit = _SMALL_UNITS[ch]
            if unit >= last_small_unit:
                raise ValueError(f"units out of order in {s!r}")
            if digit == 0:
                raise ValueError(f"零 before a unit in {s!r}")
            if digit is None:
                # Only 十 may stand without its digit (十四, 二十万零十 is unusual but readable).
                if unit != 10:
                    raise ValueError(f"{ch} without a digit in {s!r}")
                digit = 1
            group += digit * unit
            digit = None
            last_small_unit = unit
        else:  # 万 or 亿
            if digit == 0:
                raise ValueError(f"零 before a unit in {s!r}")
            amount = group + (digit or 0)
            if ch == "万":
                if seen_wan_in_section or amount == 0:
                    raise ValueError(f"misplaced 万 in {s!r}")
                section += amount * 10**4
                seen_wan_in_section = True
            else:
                if seen_yi:
                    # 一万亿 (10**12) is fine, a second 亿 is not.
                    raise ValueError(f"misplaced 亿 in {s!r}")
                value = section + amount
                if value == 0:
                    raise ValueError(f"misplaced 亿 in {s!r}")
                total = value * 10**8
                section = 0
                seen_wan_in_section = False
                seen_yi = True
            group = 0
            digit = None
            last_small_unit = 10**5
        previous = ch
    if previous in _DIGIT_VALUES and _DIGIT_VALUES[previous] == 0 and len(text) > 1:
        raise ValueError(f"trailing 零 in {s!r}")
    result = total + section + group + (digit or 0)
    if result > MAX_CHINESE_NUMERAL:
        raise ValueError(f"{s!r} is larger than {MAX_CHINESE_NUMERAL}")
    return result


def chinese_ordinal_heading(n: int, *, fullwidth: bool = False) -> str:
    """14 → "(十四)", the second-level heading of a notice; fullwidth gives "（十四）"."""
    if n < 1:
        raise ValueError("headings are numbered from 1")
    numeral = to_chinese_numeral(n)
    return f"（{numeral}）" if fullwidth else f"({numeral})"


def chinese_ordinal_clause(n: int) -> str:
    """14 → "十四是", the marker of the n-th clause in "一是…二是…"."""
    if n < 1:
        raise ValueError("clauses are numbered from 1")
    return f"{to_chinese_numeral(n)}是"
