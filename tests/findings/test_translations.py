"""Chinese shown to users goes through gettext, or the English interface shows it untranslated."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

HAN = re.compile(r"[\u4e00-\u9fff]")
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}
# The modules whose strings reach users; the feedback parser's Chinese patterns read the
# bureau's documents and are not shown.
USER_FACING = ["findings/services.py", "findings/admin.py", "findings/forms.py", "findings/views.py"]


def untranslated_chinese(source: str) -> list[str]:
    tree = ast.parse(source)
    marked: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in GETTEXT_NAMES:
            marked.update(id(arg) for arg in node.args)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and ast.get_docstring(node) is not None:
            docstrings.add(id(node.body[0].value))  # type: ignore[attr-defined]
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and HAN.search(node.value)
        and id(node) not in marked | docstrings
    ]


def test_the_checker_finds_a_bare_string():
    assert untranslated_chinese('x = {"category": "问题类别"}\ny = _("已翻译")') == ["问题类别"]


@pytest.mark.parametrize("module", USER_FACING)
def test_user_facing_chinese_is_marked_for_translation(module):
    assert untranslated_chinese((Path(settings.BASE_DIR) / module).read_text(encoding="utf-8")) == []
