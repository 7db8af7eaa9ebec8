"""Assisting departments (配合单位) recorded in each history row; the office's return of a
signed-off measure (退回已销号) as a decision that needs a reason.

History rows written before this migration recorded no assisting departments. They get the
departments the measure has now: the changes before today stay unknown, as they were, and
the first change after it is not shown as every department being added at once.
"""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def assisting_departments_as_they_are_now(apps, schema_editor):
    historical = apps.get_model("measures", "HistoricalMeasure")
    snapshot = apps.get_model("measures", "HistoricalMeasure_assisting_departments")
    through = apps.get_model("measures", "Measure")._meta.get_field("assisting_departments").remote_field.through
    quote = schema_editor.connection.ops.quote_name

    def column(model, name):
        return quote(model._meta.get_field(name).column)

    # One INSERT … SELECT: no Python loop over a ledger's history. Identifiers only, from
    # model metadata; no values.
    schema_editor.execute(
        f"INSERT INTO {quote(snapshot._meta.db_table)} "  # noqa: S608
        f"({column(snapshot, 'id')}, {column(snapshot, 'measure')}, {column(snapshot, 'department')}, "
        f"{column(snapshot, 'history')}) "
        f"SELECT t.{column(through, 'id')}, t.{column(through, 'measure')}, t.{column(through, 'department')}, "
        f"h.{column(historical, 'history_id')} "
        f"FROM {quote(through._meta.db_table)} t "
        f"INNER JOIN {quote(historical._meta.db_table)} h "
        f"ON h.{column(historical, 'id')} = t.{column(through, 'measure')}"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_role_groups"),
        ("measures", "0002_import_mapping_and_pending"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoricalMeasure_assisting_departments",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("m2m_history_id", models.AutoField(primary_key=True, serialize=False)),
            ],
            options={
                "verbose_name": "HistoricalMeasure_assisting_departments",
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RemoveConstraint(
            model_name="measuredecision",
            name="decision_return_has_reason",
        ),
        migrations.AlterField(
            model_name="measuredecision",
            name="action",
            field=models.CharField(
                choices=[
                    ("review_pass", "审核通过"),
                    ("review_return", "审核退回"),
                    ("sign_off", "销号"),
                    ("sign_off_return", "销号退回"),
                    ("sign_off_revoke", "退回已销号"),
                ],
                max_length=20,
                verbose_name="操作",
            ),
        ),
        migrations.AddConstraint(
            model_name="measuredecision",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("action__in", ["review_return", "sign_off_return", "sign_off_revoke"]), _negated=True),
                    models.Q(("comment", ""), _negated=True),
                    _connector="OR",
                ),
                name="decision_return_has_reason",
                violation_error_message="退回必须填写理由。",
            ),
        ),
        migrations.AddField(
            model_name="historicalmeasure_assisting_departments",
            name="department",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_tablespace="",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.department",
            ),
        ),
        migrations.AddField(
            model_name="historicalmeasure_assisting_departments",
            name="history",
            field=models.ForeignKey(
                db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, to="measures.historicalmeasure"
            ),
        ),
        migrations.AddField(
            model_name="historicalmeasure_assisting_departments",
            name="measure",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_tablespace="",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="measures.measure",
            ),
        ),
        migrations.RunPython(assisting_departments_as_they_are_now, migrations.RunPython.noop, elidable=True),
    ]
