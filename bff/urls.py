"""The /api gateway URLs."""

urlpatterns: list = []
