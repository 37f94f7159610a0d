"""Sign-in and registration forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.db import IntegrityError, transaction
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


class StepUpForm(forms.Form):
    """The second step: the signed-in person's password, once more."""

    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


class RegistrationForm(forms.ModelForm):
    """Name, email and one password, checked by Django's password validators.

    Nothing it says depends on whether the email already has an account (no enumeration).
    """

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
        """The address in canonical form; whether it is taken is never a form error."""
        return normalize_email(self.cleaned_data["email"])

    def validate_unique(self) -> None:
        """Skip the unique-email check: register() answers a taken email like a free one."""

    def _post_clean(self) -> None:
        super()._post_clean()
        # After the model fields are on the instance, so similarity to name/email is checked.
        password = self.cleaned_data.get("password")
        if password:
            try:
                password_validation.validate_password(password, self.instance)
            except forms.ValidationError as error:
                self.add_error("password", error)

    def register(self) -> Account | None:
        """Create the account; None when its email already has one, which stays untouched.

        The password is hashed first in both cases, so the answer takes about as long.
        """
        account = super().save(commit=False)
        account.set_password(self.cleaned_data["password"])
        try:
            with transaction.atomic():
                if Account.objects.filter(email=account.email).exists():
                    return None
                account.save()
        except IntegrityError:
            # Two submissions raced past the check; the unique index caught the second.
            return None
        return account
