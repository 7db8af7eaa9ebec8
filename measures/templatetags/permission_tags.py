"""Template filters that ask measures.permissions, so templates never test roles themselves."""

from django import template

from measures.permissions import can_import

register = template.Library()


@register.filter
def may_import(user: object) -> bool:
    return can_import(user)  # type: ignore[arg-type]
