# An app's postback_url: every order update is POSTed there with Kite's checksum.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0005_cover_orders")]
    operations = [
        migrations.AddField(
            model_name="app",
            name="postback_url",
            field=models.URLField(blank=True, default="", max_length=500),
        ),
    ]
