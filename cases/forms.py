"""Page forms. They validate input only; the services do the writing."""
from __future__ import annotations

import datetime

from django import forms

from cases.models import Case, CaseStatus, Sex


class CaseForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["patient_reference", "sex", "birth_year", "notes"]
        labels = {"patient_reference": "Patient reference"}
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}

    def clean_patient_reference(self) -> str:
        value = self.cleaned_data["patient_reference"].strip()
        if not value:
            raise forms.ValidationError("Enter the patient's reference.")
        return value

    def clean_birth_year(self) -> int | None:
        value = self.cleaned_data.get("birth_year")
        if value is not None and not 1900 <= value <= datetime.date.today().year:
            raise forms.ValidationError("Enter a year between 1900 and this year.")
        return value


class CaseSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=64)
    sex = forms.ChoiceField(required=False, choices=[("", "Any sex"), *Sex.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *CaseStatus.choices])
