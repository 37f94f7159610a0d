"""Browser sessions move from django_session to bff_browser_session, whose rows name their
token session record (one query loads both). Live sessions are copied, so nobody is signed
out by the upgrade."""

import django.db.models.deletion
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations, models
from django.utils import timezone

RECORD_ID_KEY = "bff_token_session"


def copy_live_sessions(apps, schema_editor):
    Session = apps.get_model("sessions", "Session")
    BrowserSession = apps.get_model("bff", "BrowserSession")
    decoder = SessionStore()
    batch = []
    for row in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        record_id = decoder.decode(row.session_data).get(RECORD_ID_KEY)
        batch.append(
            BrowserSession(
                session_key=row.session_key,
                session_data=row.session_data,
                expire_date=row.expire_date,
                token_session_id=record_id or None,
            )
        )
        if len(batch) >= 500:
            BrowserSession.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    BrowserSession.objects.bulk_create(batch, ignore_conflicts=True)
    TokenSession = apps.get_model("bff", "TokenSession")
    for browser in BrowserSession.objects.exclude(token_session=None).iterator():
        TokenSession.objects.filter(pk=browser.token_session_id).update(
            browser_key=browser.session_key
        )


class Migration(migrations.Migration):
    dependencies = [
        ("bff", "0003_upstream_token"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="BrowserSession",
            fields=[
                (
                    "session_key",
                    models.CharField(
                        max_length=40, primary_key=True, serialize=False, verbose_name="session key"
                    ),
                ),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                (
                    "token_session",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="bff.tokensession",
                    ),
                ),
            ],
            options={
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
                "db_table": "bff_browser_session",
                "abstract": False,
            },
        ),
        migrations.AddField(
            model_name="tokensession",
            name="browser_key",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(copy_live_sessions, migrations.RunPython.noop),
    ]
