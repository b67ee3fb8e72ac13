#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys

# Which settings: the sandbox's own commands run the sandbox (another company's server, simulated)
# and always get its settings, `sandbox.settings`, whatever DJANGO_SETTINGS_MODULE says (it names
# the app's). Every other command gets DJANGO_SETTINGS_MODULE, by default the app's `config.settings`
# (which installs the sandbox's models too, so one `migrate` makes every table). To run another
# command against the sandbox's settings, say so: `DJANGO_SETTINGS_MODULE=sandbox.settings manage.py migrate`.
SANDBOX_COMMANDS = ("runsandbox", "sandboxapp")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SANDBOX_COMMANDS:
        os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from config.env import SettingsError

    try:
        settings.INSTALLED_APPS  # noqa: B018  load the settings now: a bad variable is a message, not a traceback
    except SettingsError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(1)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
