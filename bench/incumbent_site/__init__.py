"""The incumbent rung: the Django stack a team would pick instead of the BFF.

mozilla-django-oidc signs in (authorization code + PKCE against the built-in provider, the
access token kept in the Django session), django-revproxy forwards /api/bench/<path> to the
benchmark upstream with that token as a bearer. It runs in its own virtual environment
(bench.incumbent makes it), never imports the project, and is served like the floor and the
BFF (gunicorn gthread). It does less than the BFF: no refresh, no token encryption, the
browser's cookies forwarded, no header allowlist.
"""
