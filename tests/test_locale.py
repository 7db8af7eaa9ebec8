import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Role
from tests.factories import MeasureFactory, make_user

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
HAN = re.compile(r"[\u4e00-\u9fff]")
# Python-format placeholders: %(name)s, %(n)d, %(seconds).3f; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\([^)]+\)[-#0 +]*\d*(?:\.\d+)?[sdfir]")


def _read_po(path: Path) -> list[dict]:
    """The entries of a .po file, read with the standard library only.

    A fresh machine may have no GNU gettext (the .mo is committed for that reason), so the
    tests cannot shell out to msgfmt; the format is simple enough to read directly.
    """
    entries = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry: dict = {"flags": set(), "fields": {}}
        field = None
        for line in block.strip().splitlines():
            if line.startswith("#~"):  # obsolete entry: no longer in the code, not compiled
                entry = {}
                break
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry["fields"][field] += ast.literal_eval(line)
            else:
                field, _, value = line.partition(" ")
                entry["fields"][field] = ast.literal_eval(value)
        if entry and entry["fields"].get("msgid"):  # skips the header entry (msgid "")
            entries.append(entry)
    return entries


def _translations(entry: dict) -> list[str]:
    fields = entry["fields"]
    if "msgid_plural" in fields:
        return [value for key, value in sorted(fields.items()) if key.startswith("msgstr[")]
    return [fields["msgstr"]]


@pytest.fixture(scope="module")
def po_entries():
    return _read_po(CATALOGUE / "django.po")


@pytest.mark.django_db
def test_chinese_is_the_default_whatever_the_browser_says(client):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "zh-hans"
    assert "登录" in response.content.decode()


@pytest.mark.django_db
def test_english_is_an_explicit_choice_that_sticks(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
    response = client.get(reverse("login"))
    assert response["Content-Language"] == "en"
    assert "Log in" in response.content.decode()


@pytest.mark.django_db
def test_ledger_in_english_shows_english_column_headers(client):
    office = make_user(Role.OFFICE, username="t_office_en")
    MeasureFactory(text="建立健全临时救助制度")
    client.force_login(office)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})

    page = client.get(reverse("measures:ledger")).content.decode()

    header = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    for column in ("No.", "Inspection", "Category", "Finding description", "Rectification measure", "Target"):
        assert f">{column}</th>" in header
    for column in ("Responsible leader", "Responsible department", "Owner", "Deadline", "Status", "Latest progress"):
        assert f">{column}</th>" in header
    # Every header cell is translated, not only the ones named above.
    assert not HAN.search(header), header
    # The rows keep what the bureau wrote: data is never translated.
    assert "建立健全临时救助制度" in page


def test_every_msgid_has_an_english_translation(po_entries):
    assert len(po_entries) > 100  # the catalogue was found and read
    untranslated = [e["fields"]["msgid"] for e in po_entries if not all(_translations(e))]
    fuzzy = [e["fields"]["msgid"] for e in po_entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []


def test_translations_keep_every_placeholder(po_entries):
    # A dropped or misspelt %(name)s raises KeyError (or shows a raw placeholder) at run time.
    wrong = []
    for entry in po_entries:
        fields = entry["fields"]
        expected = sorted(PLACEHOLDER.findall(fields.get("msgid_plural", fields["msgid"])))
        for translation in _translations(entry):
            if sorted(PLACEHOLDER.findall(translation)) != expected:
                wrong.append((fields["msgid"], translation))
    assert wrong == []


def test_translations_are_english(po_entries):
    # Chinese may stay only inside “quotes”, where a translation cites what the bureau's Chinese
    # documents say (a document number, “一是…二是…”), and in the language switcher, which
    # names each language in that language.
    innermost_quote = re.compile(r"“[^“”]*”")
    left_in_chinese = []
    for entry in po_entries:
        for translation in _translations(entry):
            if translation == "简体中文":
                continue
            while innermost_quote.search(translation):
                translation = innermost_quote.sub("", translation)
            if HAN.search(translation):
                left_in_chinese.append(entry["fields"]["msgid"])
    assert left_in_chinese == []


def test_compiled_catalogue_matches_the_po_file(po_entries):
    # The .mo is committed; this fails when someone edits the .po and forgets compilemessages.
    with open(CATALOGUE / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in po_entries:
        fields = entry["fields"]
        msgid, context = fields["msgid"], fields.get("msgctxt")
        if "msgid_plural" in fields:
            forms = _translations(entry)
            for n, form in ((1, forms[0]), (2, forms[-1])):
                got = (
                    compiled.npgettext(context, msgid, fields["msgid_plural"], n)
                    if context
                    else compiled.ngettext(msgid, fields["msgid_plural"], n)
                )
                if got != form:
                    stale.append((msgid, got, form))
        else:
            got = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
            if got != fields["msgstr"]:
                stale.append((msgid, got, fields["msgstr"]))
    assert stale == []
