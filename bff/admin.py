"""Admins see sessions and end them; nobody deletes one, and tokens are never shown.

Ending is the one way a session stops here: the list's action and the End button of a
session's page (a confirmation, then a POST) both call `end_by_admin`, which goes through
`bff.sessions.end` (the refresh token is revoked, `session_ended` is sent: the audit log
listens). Every staff member may see sessions and end them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import mark_safe

from bff import sessions
from bff.models import TokenSession

Reason = TokenSession.EndReason


def end_by_admin(records: Iterable[TokenSession], request: HttpRequest) -> int:
    """End (and revoke) each live record as an admin's decision; returns how many."""
    count = 0
    for record in records:
        if record.is_live:
            sessions.end(record, Reason.ENDED_BY_ADMIN, request=request, by=request.user)
            count += 1
    return count


def is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def breakable(text: str) -> str:
    """HTML of `text` that may wrap after "@" and before "." (long emails in narrow columns)."""
    escaped = escape(text)
    return mark_safe(escaped.replace("@", "@<wbr>").replace(".", "<wbr>."))  # noqa: S308


def short_time(value: Any) -> str:
    """A time as 2025-01-31 14:05 (local time): fits a list column."""
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else "—"


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Live"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "live":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class TokenSessionDisplay:
    """Columns a session list shows (here, and inline on a user's page)."""

    @admin.display(description="Started", ordering="created_at")
    def started(self, obj: TokenSession) -> str:
        return short_time(obj.created_at)

    @admin.display(description="Last seen", ordering="last_seen_at")
    def last_seen(self, obj: TokenSession) -> str:
        return short_time(obj.last_seen_at)

    @admin.display(description="Status", ordering="ended_at")
    def status(self, obj: TokenSession) -> str:
        return "Live" if obj.is_live else "Ended"

    @admin.display(description="End reason", ordering="end_reason")
    def end_reason_text(self, obj: TokenSession) -> str:
        return obj.get_end_reason_display() or "—"


@admin.register(TokenSession)
class TokenSessionAdmin(TokenSessionDisplay, admin.ModelAdmin):
    list_display = ("who", "provider", "started", "last_seen", "status", "end_reason_text")
    list_filter = (StatusFilter, "end_reason", "provider")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "user__name", "subject", "sid")
    # The encrypted token columns are left out entirely.
    fields = (
        "user",
        "provider",
        "issuer",
        "subject",
        "sid",
        "access_expires_at",
        "refresh_expires_at",
        "version",
        "created_at",
        "last_seen_at",
        "ip_address",
        "user_agent",
        "ended_at",
        "end_reason",
    )
    readonly_fields = fields
    actions = ["end_selected"]

    @admin.display(description="User", ordering="user__email")
    def who(self, obj: TokenSession) -> str:
        return breakable(str(obj.user))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request) or super().has_view_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request) or super().has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # ended, never deleted: also for superusers

    def has_end_permission(self, request: HttpRequest) -> bool:
        return is_staff(request)

    @admin.action(description="End (revoke) the selected sessions", permissions=["end"])
    def end_selected(self, request: HttpRequest, queryset: Any) -> None:
        count = end_by_admin(queryset.filter(ended_at__isnull=True), request)
        self.message_user(request, f"Ended {count} session(s).", messages.SUCCESS)

    def get_urls(self) -> list:
        end = self.admin_site.admin_view(self.end_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_end"
        return [path("<path:object_id>/end/", end, name=name), *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        context = {"can_end": self.has_end_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    @staticmethod
    def _change_url(record: TokenSession) -> str:
        return reverse("admin:bff_tokensession_change", args=[quote(record.pk)])

    def end_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: are you sure? POST: end the session, say so, back to its page."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_end_permission(request):
            raise PermissionDenied
        record = self.get_object(request, unquote(object_id))
        if record is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            if end_by_admin([record], request):
                self.message_user(
                    request,
                    f"Ended the session of {record.user} and asked the provider to revoke "
                    "its refresh token.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, "This session had already ended.", messages.WARNING)
            return HttpResponseRedirect(self._change_url(record))
        context = {
            **self.admin_site.each_context(request),
            "title": "End this session?" if record.is_live else "This session has ended",
            "subtitle": None,
            "object": record,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "change_url": self._change_url(record),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/bff/tokensession/end_confirmation.html", context)
