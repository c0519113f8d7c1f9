from django import forms


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )
