"""REST API routes of the cases app, mounted under /api/v1/."""
urlpatterns: list = []
