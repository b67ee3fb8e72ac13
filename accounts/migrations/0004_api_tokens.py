# API tokens become django-rest-knox's: hashed at rest, expiring (accounts.tokens).
# Each token DRF's `authtoken` stored in plaintext becomes a knox token that the same key still opens
# (expiring API_TOKEN_TTL_DAYS after this migration), and the plaintext rows are deleted. There is no
# way back: reversing leaves the hashed tokens as they are (re-issue with drf_create_token).
from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"  # rest_framework.authtoken's, no longer installed


def hash_plaintext_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS, knox_settings

    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, {quote('user_id')} FROM {quote(LEGACY_TABLE)}")
        rows = cursor.fetchall()
    AuthToken = apps.get_model("knox", "AuthToken")
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    AuthToken.objects.using(connection.alias).bulk_create([
        AuthToken(digest=hash_token(key), token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id, expiry=expiry)
        for key, user_id in rows
    ])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(LEGACY_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_guardrails"), ("knox", "0009_extend_authtoken_field")]
    operations = [migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop)]
