"""Review moves to the reviews app: removed from this app's state only; its tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables and their rows stay exactly where they are.
            state_operations=[
                migrations.RemoveField(
                    model_name='review',
                    name='radiograph',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='reviewer',
                ),
                migrations.DeleteModel(
                    name='HistoricalReview',
                ),
                migrations.DeleteModel(
                    name='Review',
                ),
            ],
            database_operations=[],
        ),
    ]
