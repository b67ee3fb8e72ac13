# Cover and iceberg orders: an order's parent (a cover order's stop-loss leg) and Kite's `meta` (iceberg legs).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0004_partial_fills")]
    operations = [
        migrations.AddField(
            model_name="order",
            name="meta",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="order",
            name="parent_order_id",
            field=models.CharField(blank=True, db_index=True, default="", max_length=32),
        ),
    ]
