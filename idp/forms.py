"""Sign-in and registration forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.http import HttpRequest

from idp.models import Account, normalize_email


class LoginForm(forms.Form):
    """Email + password; the interface Django's LoginView expects of its form."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        # One message for a wrong email and a wrong password: no way to probe for accounts.
        "invalid_login": "That email and password do not match an account.",
        "inactive": "This account is disabled.",
    }

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: Account | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        """Authenticate with Django's backends (hashers, timing-safe unknown-user path)."""
        cleaned = super().clean() or {}
        email, password = cleaned.get("email"), cleaned.get("password")
        if email and password:
            self.user_cache = authenticate(self.request, email=email, password=password)
            if self.user_cache is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], "invalid_login")
        return cleaned

    def get_user(self) -> Account | None:
        """The authenticated account, after a successful clean()."""
        return self.user_cache


class RegistrationForm(forms.ModelForm):
    """Name, email and one password, checked by Django's password validators."""

    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )

    class Meta:
        model = Account
        fields = ["name", "email"]
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
        }

    def clean_email(self) -> str:
        """Reject an address that already has an account, in any letter case."""
        email = normalize_email(self.cleaned_data["email"])
        if Account.objects.filter(email=email).exists():
            raise forms.ValidationError(
                "An account with this email address already exists. Sign in instead.",
                code="duplicate_email",
            )
        return email

    def _post_clean(self) -> None:
        super()._post_clean()
        # After the model fields are on the instance, so similarity to name/email is checked.
        password = self.cleaned_data.get("password")
        if password:
            try:
                password_validation.validate_password(password, self.instance)
            except forms.ValidationError as error:
                self.add_error("password", error)

    def save(self, commit: bool = True) -> Account:
        """Create the account with its password hashed."""
        account = super().save(commit=False)
        account.set_password(self.cleaned_data["password"])
        if commit:
            account.save()
        return account
