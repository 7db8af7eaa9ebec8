"""The inspection page's notice and look-back links, asked of measures.permissions and read by
measures.lookbacks, so the findings app's view and selector need not know about either."""

from django import template

from findings.models import Inspection
from measures.lookbacks import reopen_links
from measures.permissions import Action, can, can_read_notice

register = template.Library()


@register.inclusion_tag("measures/lookback_links.html", takes_context=True)
def lookback_links(context: template.Context, inspection: Inspection) -> dict[str, object]:
    user = context["request"].user
    # The page's selector prefetched the look-backs; without one, and following up nothing,
    # there is no reopening to show and no query is made.
    has_lookbacks = bool(inspection.lookbacks.all())
    reopened_here, reopening_here = reopen_links(inspection, has_lookbacks=has_lookbacks)
    return {
        "inspection": inspection,
        "can_read_notice": can_read_notice(user),
        "can_edit": can(user, Action.EDIT_LEDGER),
        "reopened_here": reopened_here,
        "reopening_here": reopening_here,
    }
