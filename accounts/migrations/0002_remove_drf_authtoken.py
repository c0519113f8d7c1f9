"""Remove what DRF's `rest_framework.authtoken` left behind when it was replaced by knox.

Its table held every API token in clear text: dropped, not kept. Its content types (and with
them its permissions) and its migration records go too, so nothing refers to an app that is no
longer installed. On a database that never had it, this does nothing.
"""
from django.db import migrations


def remove_authtoken(apps, schema_editor) -> None:
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    if "authtoken_token" in tables:
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name('authtoken_token')}")
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(connection.alias).filter(app_label="authtoken").delete()
    if "django_migrations" in tables:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(remove_authtoken, migrations.RunPython.noop)]
