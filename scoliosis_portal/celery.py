"""The Celery application: `celery -A scoliosis_portal worker` uses the same settings as the web."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scoliosis_portal.settings.dev")

app = Celery("scoliosis_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
