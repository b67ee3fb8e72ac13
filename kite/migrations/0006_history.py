# History kept per account: order updates, trades and end-of-day holding snapshots (CONTRACT section 10).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_guardrails'),
        ('kite', '0005_idempotency_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='PortfolioSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField()),
                ('value', models.DecimalField(decimal_places=2, max_digits=20)),
                ('invested', models.DecimalField(decimal_places=2, max_digits=20)),
                ('pnl', models.DecimalField(decimal_places=2, max_digits=20)),
                ('taken_at', models.DateTimeField()),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='portfolio_snapshots', to='accounts.account')),
            ],
            options={
                'ordering': ['date'],
            },
        ),
        migrations.CreateModel(
            name='HoldingSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('exchange', models.CharField(max_length=8)),
                ('tradingsymbol', models.CharField(max_length=64)),
                ('quantity', models.DecimalField(decimal_places=4, max_digits=18)),
                ('average_price', models.DecimalField(decimal_places=4, max_digits=18)),
                ('close_price', models.DecimalField(decimal_places=4, max_digits=18)),
                ('value', models.DecimalField(decimal_places=2, max_digits=20)),
                ('pnl', models.DecimalField(decimal_places=2, max_digits=20)),
                ('snapshot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='holdings', to='kite.portfoliosnapshot')),
            ],
            options={
                'ordering': ['exchange', 'tradingsymbol'],
            },
        ),
        migrations.CreateModel(
            name='TradeRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('trade_id', models.CharField(max_length=64)),
                ('order_id', models.CharField(max_length=64)),
                ('exchange', models.CharField(max_length=8)),
                ('tradingsymbol', models.CharField(max_length=64)),
                ('product', models.CharField(blank=True, max_length=8)),
                ('transaction_type', models.CharField(max_length=8)),
                ('quantity', models.DecimalField(decimal_places=4, max_digits=18)),
                ('price', models.DecimalField(decimal_places=4, max_digits=18)),
                ('fill_timestamp', models.DateTimeField()),
                ('trading_day', models.DateField()),
                ('source', models.CharField(choices=[('postback', 'postback'), ('ticker', 'ticker'), ('snapshot', 'snapshot')], default='snapshot', max_length=8)),
                ('payload', models.JSONField(default=dict)),
                ('recorded_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trade_records', to='accounts.account')),
            ],
            options={
                'ordering': ['fill_timestamp', 'id'],
            },
        ),
        migrations.CreateModel(
            name='OrderUpdate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('order_id', models.CharField(max_length=64)),
                ('status', models.CharField(max_length=64)),
                ('exchange', models.CharField(blank=True, max_length=8)),
                ('tradingsymbol', models.CharField(blank=True, max_length=64)),
                ('transaction_type', models.CharField(blank=True, max_length=8)),
                ('quantity', models.DecimalField(decimal_places=4, max_digits=18, null=True)),
                ('filled_quantity', models.DecimalField(decimal_places=4, max_digits=18, null=True)),
                ('average_price', models.DecimalField(decimal_places=4, max_digits=18, null=True)),
                ('order_timestamp', models.DateTimeField(null=True)),
                ('trading_day', models.DateField(db_index=True)),
                ('source', models.CharField(choices=[('postback', 'postback'), ('ticker', 'ticker'), ('snapshot', 'snapshot')], max_length=8)),
                ('fingerprint', models.CharField(max_length=64)),
                ('payload', models.JSONField(default=dict)),
                ('received_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='order_updates', to='accounts.account')),
            ],
            options={
                'ordering': ['order_timestamp', 'id'],
                'indexes': [models.Index(fields=['account', 'order_id'], name='kite_orderu_account_31d049_idx')],
                'constraints': [models.UniqueConstraint(fields=('account', 'fingerprint'), name='order_update_once')],
            },
        ),
        migrations.AddConstraint(
            model_name='portfoliosnapshot',
            constraint=models.UniqueConstraint(fields=('account', 'date'), name='portfolio_snapshot_per_day'),
        ),
        migrations.AddConstraint(
            model_name='holdingsnapshot',
            constraint=models.UniqueConstraint(fields=('snapshot', 'exchange', 'tradingsymbol'), name='holding_snapshot_once'),
        ),
        migrations.AddIndex(
            model_name='traderecord',
            index=models.Index(fields=['account', 'trading_day'], name='kite_trader_account_c0cd54_idx'),
        ),
        migrations.AddConstraint(
            model_name='traderecord',
            constraint=models.UniqueConstraint(fields=('account', 'exchange', 'trade_id'), name='trade_record_once'),
        ),
    ]
