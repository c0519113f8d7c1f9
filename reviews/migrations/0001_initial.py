"""Move Review (and its history) from cases to reviews: state only, the tables keep their
names (cases_review, cases_historicalreview)."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def _content_types_follow(apps, schema_editor, models, old_app, new_app):
    """Move the content types (and so the permissions and admin log entries that point at them)
    to the new app label, unless the new one already exists."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not ContentType.objects.filter(app_label=new_app, model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label=new_app)


def content_types_to_reviews(apps, schema_editor):
    _content_types_follow(apps, schema_editor, ["review", "historicalreview"], "cases", "reviews")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('cases', '0002_move_review_to_reviews_app'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables and their rows stay exactly where they are.
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalReview',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('label', models.CharField(max_length=64)),
                        ('comment', models.TextField(blank=True)),
                        ('blind', models.BooleanField(default=False, help_text="Committed before the model's answer was shown.")),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('updated_at', models.DateTimeField(blank=True, editable=False)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('radiograph', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='cases.radiograph')),
                        ('reviewer', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'historical review',
                        'verbose_name_plural': 'historical reviews',
                        'db_table': 'cases_historicalreview',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='Review',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('label', models.CharField(max_length=64)),
                        ('comment', models.TextField(blank=True)),
                        ('blind', models.BooleanField(default=False, help_text="Committed before the model's answer was shown.")),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('radiograph', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='cases.radiograph')),
                        ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'cases_review',
                        'ordering': ['created_at', 'id'],
                        'constraints': [models.UniqueConstraint(fields=('radiograph', 'reviewer'), name='one_review_per_reviewer')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_reviews, migrations.RunPython.noop),
    ]
