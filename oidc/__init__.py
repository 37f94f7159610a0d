"""The OpenID Connect protocol, apart from every app: provider metadata and keys, the
protocol client, ID- and logout-token validation, token-response parsing, protocol errors.

It imports no app of this project; the apps import it.
"""
