"""The one rule for turning counts into the percentages bureaus print."""

from decimal import ROUND_HALF_UP, Decimal


def rate_percent(part: int, whole: int) -> Decimal | None:
    """Percentage with two decimals, rounded half up: 144 of 145 is 99.31.

    None when there is nothing to divide by, so a page shows "—" rather than 0%.
    """
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
