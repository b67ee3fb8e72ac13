"""Indian number formatting for LANGUAGE_CODE en-in: 1,00,895.90 (lakh and crore grouping)."""
from django.conf.locale.en.formats import *  # noqa: F403

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = (3, 2, 0)
