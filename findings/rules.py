"""Rules about an inspection that every place writing its measures applies: the services, the
ledger import and the draft editor ask these rather than compare dates themselves, so the rule
and its message are the same wherever it is broken.
"""

from datetime import date

from django.db.models import Q
from django.utils.translation import gettext as _


def early_deadline_message(*, deadline: date | None, feedback_date: date | None) -> str | None:
    """Why a measure may not be due on `deadline` when its inspection's feedback came on
    `feedback_date`, or None when it may: a measure cannot be due before the feedback that
    asked for it. Either date missing leaves nothing to compare."""
    if deadline is None or feedback_date is None or deadline >= feedback_date:
        return None
    return _("整改时限不能早于检查反馈日期(%(date)s)。") % {"date": feedback_date.isoformat()}


def early_deadlines(feedback_date: date) -> Q:
    """The measures (a filter on their deadline) that a feedback date of `feedback_date` would
    leave due before it: the same rule seen from the inspection's side."""
    return Q(deadline__lt=feedback_date)
