"""The admin: users with their sessions, the audit log (read only), and how admins sign in.

Admins sign in through the provider like everybody (no second password): the admin's login
page sends a visitor to /auth/login, and a signed-in user who is not staff gets a 403 page.
Every staff member may see users, sessions and the audit log and end sessions; changing a
user takes Django's permissions (a superuser). Rights come from the provider's claim or
from `manage.py grant_admin` (accounts/roles.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from accounts import roles, views
from accounts.conf import accounts_settings
from accounts.models import AuditEvent, Identity, RightSource, User, end_sessions_of
from bff.admin import TokenSessionDisplay, breakable, is_staff, short_time
from bff.models import TokenSession
from bff.redirects import safe_next
from bff.responses import login_url

# A user's page lists their live sessions and those ended within this.
RECENT_SESSIONS = timedelta(days=30)


@login_not_required
@never_cache
def admin_login_view(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin's login page: off to the provider's sign-in, back to the admin page asked
    for; a signed-in user who is not staff is told so (403), never sent round again."""
    if accounts_settings.ACCOUNTS_ADMIN_PASSWORD_LOGIN:
        return AdminSite.login(admin.site, request, extra_context)
    next_path = safe_next(request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"))
    if not request.user.is_authenticated:
        return HttpResponseRedirect(login_url(next_path))
    if admin.site.has_permission(request):
        return HttpResponseRedirect(next_path)
    return render(request, "admin/not_staff.html", {"signed_in_as": request.user}, status=403)


def admin_logout_view(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin's Log out is the app's sign-out: the session ends, its tokens are revoked."""
    if request.method == "POST":
        return views.logout_view(request)
    return redirect("accounts:logout")


admin.site.login = admin_login_view
admin.site.logout = admin_logout_view
# Three lists and their filters: the width goes to their columns (a 1280 px screen).
admin.site.enable_nav_sidebar = False


class StaffMayView:
    """Every staff member sees these pages (the admin's job); changes need permissions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request) or super().has_view_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request) or super().has_module_permission(request)


class IdentityInline(StaffMayView, admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("provider", "issuer", "subject", "created_at", "last_login_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TokenSessionInline(StaffMayView, TokenSessionDisplay, admin.TabularInline):
    """A user's sessions, read only; ended from the session's page or the users' list."""

    model = TokenSession
    verbose_name_plural = "sessions (live, and ended in the last 30 days)"
    extra = 0
    fields = ("provider", "started", "last_seen", "status", "end_reason_text")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> Any:
        recent = Q(ended_at__isnull=True) | Q(ended_at__gte=timezone.now() - RECENT_SESSIONS)
        return super().get_queryset(request).filter(recent).order_by("-last_seen_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(StaffMayView, BaseUserAdmin):
    inlines = [IdentityInline, TokenSessionInline]
    list_display = ("label", "name", "providers", "rights", "live_sessions", "last_seen")
    list_filter = ("is_staff", "is_superuser", "is_active", "identities__provider")
    search_fields = ("username", "name", "email", "identities__subject")
    ordering = ("email", "username")
    readonly_fields = ("staff_source", "superuser_source", "sessions_link", "last_login")
    actions = ["end_all_sessions"]
    fieldsets = (
        (None, {"fields": ("username", "name", "email", "is_active", "sessions_link")}),
        (
            "Admin rights",
            {
                "fields": (
                    ("is_staff", "staff_source"),
                    ("is_superuser", "superuser_source"),
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        live = Count("token_sessions", filter=Q(token_sessions__ended_at__isnull=True))
        return (
            super().get_queryset(request).annotate(live_count=live).prefetch_related("identities")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and accounts_settings.ACCOUNTS_ADMIN_PASSWORD_LOGIN:
            return ((None, {"fields": ("password",)}), *fieldsets)
        return fieldsets

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Users are made by their first sign-in; a user added here could not sign in.
        return accounts_settings.ACCOUNTS_ADMIN_PASSWORD_LOGIN and super().has_add_permission(
            request
        )

    def has_end_permission(self, request: HttpRequest) -> bool:
        return is_staff(request)

    @admin.display(description="User", ordering="email")
    def label(self, obj: User) -> str:
        return breakable(str(obj))

    @admin.display(description="Signs in with")
    def providers(self, obj: User) -> str:
        return ", ".join(obj.provider_names()) or "—"

    @admin.display(description="Admin rights")
    def rights(self, obj: User) -> str:
        held = [
            f"{right} ({dict(RightSource.choices).get(source, 'by hand')})"
            for right, flag, source in (
                ("Superuser", obj.is_superuser, obj.superuser_source),
                ("Staff", obj.is_staff and not obj.is_superuser, obj.staff_source),
            )
            if flag
        ]
        return ", ".join(held) or "—"

    @admin.display(description="Live sessions", ordering="live_count")
    def live_sessions(self, obj: User) -> int:
        return obj.live_count

    @admin.display(description="Last sign-in", ordering="last_login")
    def last_seen(self, obj: User) -> str:
        return short_time(obj.last_login)

    @admin.display(description="Sessions")
    def sessions_link(self, obj: User) -> str:
        url = reverse("admin:bff_tokensession_changelist") + f"?user__id__exact={obj.pk}"
        return format_html('<a href="{}">All sessions of this user</a>', url)

    @admin.action(description="End all sessions of the selected users", permissions=["end"])
    def end_all_sessions(self, request: HttpRequest, queryset: Any) -> None:
        users = list(queryset)
        count = end_sessions_of(users, request=request, by=request.user)
        self.message_user(
            request, f"Ended {count} session(s) of {len(users)} user(s).", messages.SUCCESS
        )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        changes = []
        for right, (flag, source) in roles.RIGHTS.items():
            if flag in form.changed_data:
                granted = getattr(obj, flag)
                setattr(obj, source, RightSource.ADMIN if granted else "")
                changes.append(f"{right} {'granted' if granted else 'withdrawn'}")
        super().save_model(request, obj, form, change)
        if changes:
            roles.record(
                obj, changes, f"{RightSource.ADMIN.label}, by {request.user}", request=request
            )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # A user's sessions go with the user, ended and revoked first (delete_model): the
        # rule that nobody deletes a session does not block deleting the user.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(TokenSession._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        end_sessions_of([obj], request=request, by=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        end_sessions_of(queryset, request=request, by=request.user)
        super().delete_queryset(request, queryset)


@admin.register(AuditEvent)
class AuditEventAdmin(StaffMayView, admin.ModelAdmin):
    """The audit log, read only for everybody (superusers too); the model refuses too."""

    list_display = ("when", "kind", "who", "provider", "reason", "ip_address")
    list_filter = ("kind", "provider")
    list_select_related = ("user",)
    search_fields = ("user_label", "user__username", "user__email", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    @admin.display(description="When", ordering="created_at")
    def when(self, obj: AuditEvent) -> str:
        return short_time(obj.created_at)

    @admin.display(description="Who", ordering="user_label")
    def who(self, obj: AuditEvent) -> str:
        return breakable(obj.user_label or (str(obj.user) if obj.user else "—"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
