"""Forms only validate; services save."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Department
from accounts.roles import leaders
from measures.models import Measure, MeasureStatus

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


VERSION_MISSING = _("页面缺少版本信息,修改未保存。请刷新页面后重新操作。")


def version_field() -> forms.IntegerField:
    """The version the user read, required: without it a save could not tell a stale page
    from a fresh one, and would overwrite whatever was saved in between."""
    return forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={"required": VERSION_MISSING, "invalid": VERSION_MISSING, "min_value": VERSION_MISSING},
    )


class VersionErrorShown:
    """Moves the version's error to the form's own errors: the field is a hidden input, and
    templates show a hidden field's errors nowhere."""

    def clean(self) -> dict:
        data = super().clean()  # type: ignore[misc]
        if "version" in self._errors:  # type: ignore[attr-defined]
            del self._errors["version"]  # type: ignore[attr-defined]
            self.add_error(None, VERSION_MISSING)  # type: ignore[attr-defined]
        return data


class VersionedForm(VersionErrorShown, forms.Form):
    """Carries the version the user read, so a stale save is refused, not applied."""

    version = version_field()


class StatusForm(VersionedForm):
    STAFF_TARGETS = [
        (MeasureStatus.IN_PROGRESS, MeasureStatus.IN_PROGRESS.label),
        (MeasureStatus.COMPLETED, MeasureStatus.COMPLETED.label),
        (MeasureStatus.NOT_STARTED, MeasureStatus.NOT_STARTED.label),
    ]
    new_status = forms.ChoiceField(label=_("新状态"), choices=STAFF_TARGETS)
    result = forms.CharField(
        label=_("整改成效"), required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=_("标记已完成时必填")
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("new_status") == MeasureStatus.COMPLETED and not (data.get("result") or "").strip():
            self.add_error("result", _("标记已完成时必须填写整改成效。"))
        return data


class ProgressForm(forms.Form):
    reported_on = forms.DateField(label=_("汇报日期"), widget=DATE_INPUT, initial=timezone.localdate)
    text = forms.CharField(label=_("进展情况"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)

    def clean_reported_on(self) -> dt.date:
        value = self.cleaned_data["reported_on"]
        if value > timezone.localdate():
            raise forms.ValidationError(_("汇报日期不能晚于今天。"))
        return value


class EvidenceForm(forms.Form):
    title = forms.CharField(label=_("材料名称"), max_length=200)
    document_number = forms.CharField(
        label=_("文号"), max_length=100, required=False, help_text=_("如:温民办〔2022〕27号")
    )
    file = forms.FileField(
        label=_("文件"),
        required=False,
        help_text=_("支持 pdf、doc/docx、xls/xlsx、jpg、png,单个不超过 20 MB"),
    )

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("file") and not (data.get("document_number") or "").strip():
            raise forms.ValidationError(_("请上传文件或填写文号。"))
        return data


class ExtensionRequestForm(forms.Form):
    new_deadline = forms.DateField(label=_("申请延期至"), widget=DATE_INPUT)
    reason = forms.CharField(label=_("延期理由"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class DecisionForm(VersionedForm):
    """Review (审核) and sign-off (销号): pass, or return with a reason."""

    decision = forms.ChoiceField(choices=[("pass", _("通过")), ("return", _("退回"))], widget=forms.HiddenInput)
    comment = forms.CharField(label=_("意见"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("decision") == "return" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("退回必须填写理由。"))
        return data


class ReturnSignedOffForm(VersionedForm):
    """退回已销号: the office sends a signed-off measure back, always with a reason."""

    comment = forms.CharField(
        label=_("退回理由"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": _("退回必须填写理由。")},
    )


class ExtensionDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("批准")), ("refuse", _("不批准"))], widget=forms.HiddenInput)
    comment = forms.CharField(label=_("审批意见"), required=False, max_length=2000)


class BatchForm(forms.Form):
    """Batch pass from the ledger. Unlike the measure page's forms it carries no versions: the
    ledger's checkboxes send ids only, and the service passes a row only if, locked, it is
    still in the status a pass needs (see measures.services._pass_many)."""

    action = forms.ChoiceField(choices=[("review", _("批量审核通过")), ("sign_off", _("批量销号"))])
    measure_ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    comment = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # The ids are checked against permissions by the service; here they only need to be ints.
        self.fields["measure_ids"].choices = [(v, v) for v in self.data.getlist("measure_ids")]  # type: ignore[attr-defined]

    def clean_measure_ids(self) -> list[int]:
        ids = self.cleaned_data["measure_ids"]
        if not ids:
            raise forms.ValidationError(_("请先勾选措施。"))
        return ids


class MeasureForm(VersionErrorShown, forms.ModelForm):
    """The office's editor for a measure's substance (not its workflow fields)."""

    version = version_field()

    class Meta:
        model = Measure
        fields = [
            "text",
            "target",
            "kind",
            "responsible_leader",
            "lead_department",
            "assisting_departments",
            "owner",
            "deadline",
        ]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "target": forms.Textarea(attrs={"rows": 2}),
            "deadline": DATE_INPUT,
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["responsible_leader"].queryset = leaders()  # type: ignore[attr-defined]
        self.fields["lead_department"].queryset = Department.objects.all()  # type: ignore[attr-defined]
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        else:
            # A new measure has no version to compare against.
            self.fields["version"].required = False
