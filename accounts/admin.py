from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import AuditEvent, Identity, User


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("provider", "issuer", "subject", "created_at", "last_login_at")
    readonly_fields = fields
    can_delete = False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [IdentityInline]
    list_display = ("username", "name", "email", "is_staff", "last_login")
    search_fields = ("username", "name", "email", "identities__subject")
    fieldsets = BaseUserAdmin.fieldsets + (("Profile", {"fields": ("name",)}),)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "user", "provider", "reason", "ip_address")
    list_filter = ("kind", "provider")
    search_fields = ("user__username", "user__email", "reason")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
