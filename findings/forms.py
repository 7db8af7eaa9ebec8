from django import forms

from findings.models import Category, Finding, Inspection

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class InspectionForm(forms.ModelForm):
    class Meta:
        model = Inspection
        fields = [
            "kind",
            "title",
            "round",
            "document_number",
            "source_body",
            "inspected_unit",
            "deployment",
            "onsite_start",
            "onsite_end",
            "feedback_date",
            "deadline",
            "follows_up",
            "summary",
        ]
        widgets = {
            "onsite_start": DATE_INPUT,
            "onsite_end": DATE_INPUT,
            "feedback_date": DATE_INPUT,
            "deadline": DATE_INPUT,
            "summary": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        others = Inspection.objects.only("id", "title").order_by("-feedback_date")
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        self.fields["follows_up"].queryset = others  # type: ignore[attr-defined]


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ["order", "title"]


class FindingForm(forms.ModelForm):
    class Meta:
        model = Finding
        fields = ["category", "number", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: object, inspection: Inspection, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["category"].queryset = inspection.categories.all()  # type: ignore[attr-defined]
        self.fields["number"].required = False
