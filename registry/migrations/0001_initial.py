"""Move ModelVersion (and its history) from training to registry: state only, the tables
keep their names (training_modelversion, training_historicalmodelversion)."""

import django.db.models.deletion
import registry.models
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


def content_types_to_registry(apps, schema_editor):
    _content_types_follow(apps, schema_editor, ["modelversion", "historicalmodelversion"], "training", "registry")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('training', '0002_historicaltrainingrun_trainingrun_and_more'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables and their rows stay exactly where they are.
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalModelVersion',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('name', models.CharField(db_index=True, max_length=100)),
                        ('checkpoint', models.TextField(max_length=255)),
                        ('sha256', models.CharField(db_index=True, max_length=64)),
                        ('architecture', models.CharField(max_length=64)),
                        ('labels', models.JSONField(help_text="The label set, in the model's output order.")),
                        ('input_size', models.JSONField(default=list)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('model_card', models.TextField(blank=True)),
                        ('status', models.CharField(choices=[('candidate', 'Candidate'), ('active', 'Active'), ('retired', 'Retired'), ('failed', 'Failed')], db_index=True, default='candidate', max_length=16)),
                        ('status_reason', models.TextField(blank=True)),
                        ('activated_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('activated_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('training_run', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='training.trainingrun')),
                    ],
                    options={
                        'verbose_name': 'historical model version',
                        'verbose_name_plural': 'historical model versions',
                        'db_table': 'training_historicalmodelversion',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='ModelVersion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('checkpoint', models.FileField(max_length=255, upload_to=registry.models.checkpoint_upload_to)),
                        ('sha256', models.CharField(max_length=64, unique=True)),
                        ('architecture', models.CharField(max_length=64)),
                        ('labels', models.JSONField(help_text="The label set, in the model's output order.")),
                        ('input_size', models.JSONField(default=list)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('model_card', models.TextField(blank=True)),
                        ('status', models.CharField(choices=[('candidate', 'Candidate'), ('active', 'Active'), ('retired', 'Retired'), ('failed', 'Failed')], db_index=True, default='candidate', max_length=16)),
                        ('status_reason', models.TextField(blank=True)),
                        ('activated_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('activated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='model_versions_activated', to=settings.AUTH_USER_MODEL)),
                        ('training_run', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='model_version', to='training.trainingrun')),
                    ],
                    options={
                        'db_table': 'training_modelversion',
                        'ordering': ['-created_at', '-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('status',), name='exactly_one_active_model_version')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_registry, migrations.RunPython.noop),
    ]
