"""REST API routes of the inference app, mounted under /api/v1/."""
urlpatterns: list = []
