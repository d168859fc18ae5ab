"""Lane-targeted parameter overrides: every existing row becomes global (lane blank)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0003_decision_size_mult"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="paramoverride",
            options={"ordering": ["name", "lane"]},
        ),
        migrations.AddField(
            model_name="paramoverride",
            name="lane",
            field=models.CharField(
                blank=True, default="", help_text="blank: every lane (global)", max_length=32
            ),
        ),
        migrations.AlterField(
            model_name="paramoverride",
            name="name",
            field=models.CharField(max_length=64),
        ),
        migrations.AddConstraint(
            model_name="paramoverride",
            constraint=models.UniqueConstraint(
                fields=("name", "lane"), name="paramoverride_name_lane"
            ),
        ),
    ]
