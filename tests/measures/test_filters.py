"""The ledger filter form's selects write their options in Python: the same markup as Django's."""

import pytest
from django import forms
from django.test.html import parse_html

from measures.filters import MeasureFilter, PlainSelect, PlainSelectMultiple
from tests.factories import DepartmentFactory

CHOICES = [
    ("", "---------"),
    ("1", "社会救助科"),
    ("2", '<b>"养老"</b> & 服务科'),
    ("机关", [("3", "机关党委"), ("4", "办公室")]),
]


@pytest.mark.parametrize("value", [None, "", "2", "4"])
def test_plain_select_writes_what_djangos_select_writes(value):
    attrs = {"id": "id_department", "class": "wide"}
    plain = PlainSelect(choices=CHOICES).render("department", value, attrs)
    django = forms.Select(choices=CHOICES).render("department", value, attrs)
    assert parse_html(plain) == parse_html(django)
    assert "&lt;b&gt;" in plain  # labels are escaped


@pytest.mark.parametrize("value", [[], ["1"], ["1", "3"]])
def test_plain_multiple_select_writes_what_djangos_writes(value):
    plain = PlainSelectMultiple(choices=CHOICES).render("status", value, {"id": "id_status"})
    django = forms.SelectMultiple(choices=CHOICES).render("status", value, {"id": "id_status"})
    assert parse_html(plain) == parse_html(django)
    assert " multiple" in plain


@pytest.mark.django_db
def test_the_ledger_form_keeps_the_chosen_department_selected():
    chosen, other = DepartmentFactory(name="社会事务科"), DepartmentFactory(name="婚姻登记处")
    html = str(MeasureFilter({"department": str(chosen.pk)}).form["department"])
    assert parse_html(f'<option value="{chosen.pk}" selected>社会事务科</option>') in parse_html(html)
    assert parse_html(f'<option value="{other.pk}">婚姻登记处</option>') in parse_html(html)
