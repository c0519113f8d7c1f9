import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scoliosis_portal.settings.production")
application = get_wsgi_application()

from scoliosis_portal.startup import static_manifest_check  # noqa: E402 - needs settings loaded

# gunicorn fails to boot with this message rather than serving 500s on every page.
static_manifest_check()
