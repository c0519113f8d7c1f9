"""ModelVersion moves to the registry app: removed from this app's state only; its tables stay,
and the foreign keys to it now point at registry.ModelVersion (same table, no DDL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0002_prediction_model_version_in_registry'),
        ('registry', '0001_initial'),
        ('training', '0002_historicaltrainingrun_trainingrun_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables and their rows stay exactly where they are.
            state_operations=[
                migrations.RemoveField(
                    model_name='modelversion',
                    name='activated_by',
                ),
                migrations.RemoveField(
                    model_name='modelversion',
                    name='training_run',
                ),
                migrations.AlterField(
                    model_name='historicaltrainingrun',
                    name='base_model_version',
                    field=models.ForeignKey(blank=True, db_constraint=False, help_text='The version to compare against and whose label set is kept (default: active).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='registry.modelversion'),
                ),
                migrations.AlterField(
                    model_name='trainingrun',
                    name='base_model_version',
                    field=models.ForeignKey(blank=True, help_text='The version to compare against and whose label set is kept (default: active).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='training_runs_based_on', to='registry.modelversion'),
                ),
                migrations.DeleteModel(
                    name='HistoricalModelVersion',
                ),
                migrations.DeleteModel(
                    name='ModelVersion',
                ),
            ],
            database_operations=[],
        ),
    ]
