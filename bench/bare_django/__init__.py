"""The framework floor: a bare Django project whose one view forwards a call upstream with a
pooled `requests` session; no session, no auth, no database. Served like the BFF (gunicorn)."""
