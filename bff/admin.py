"""Admins see live sessions and can end them; tokens are never shown."""

from django.contrib import admin, messages

from bff import sessions
from bff.models import TokenSession


@admin.register(TokenSession)
class TokenSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "provider", "created_at", "last_seen_at", "ip_address", "is_live_flag")
    list_filter = ("provider", ("ended_at", admin.EmptyFieldListFilter), "end_reason")
    search_fields = ("user__username", "user__email", "subject", "sid")
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

    @admin.display(boolean=True, description="Live")
    def is_live_flag(self, obj: TokenSession) -> bool:
        return obj.is_live

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_end_permission(self, request) -> bool:
        return request.user.has_perm("bff.change_tokensession")

    @admin.action(description="End (revoke) the selected sessions", permissions=["end"])
    def end_selected(self, request, queryset):
        count = 0
        for record in queryset.filter(ended_at__isnull=True):
            sessions.end(record, sessions.Reason.ENDED_BY_ADMIN, request=request, by=request.user)
            count += 1
        self.message_user(request, f"Ended {count} session(s).", messages.SUCCESS)
