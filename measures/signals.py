"""Signals the measures app sends so that upper layers (dashboards) can react without
measures importing them.

`ledger_changed` is sent after a change to a measure's status, deadline, sign-off or
extensions has been committed; `measure_ids` names the measures touched (possibly many,
from a batch sign-off), so a receiver can debounce.
"""

from django.dispatch import Signal

ledger_changed = Signal()  # kwargs: measure_ids: list[int]
