"""Prediction.model_version points at registry.ModelVersion: the same table, so no DDL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0001_initial'),
        ('registry', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables and their rows stay exactly where they are.
            state_operations=[
                migrations.AlterField(
                    model_name='prediction',
                    name='model_version',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='predictions', to='registry.modelversion'),
                ),
            ],
            database_operations=[],
        ),
    ]
