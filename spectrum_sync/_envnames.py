"""The names of the environment variables spectrum_sync reads, and nothing else.

The one place these names are written (a test fails on a ``"SPECTRUM_...`` string anywhere
else in the package). A leaf without imports: the settings table (``_config.py``) says what
each variable configures, and the emulator, which imports no client internals, names the
variables its ``env()`` sets from here too (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

#: The prefix of every variable; also of the Flask config keys (``app.config``).
PREFIX = "SPECTRUM_"

# Read by Client() (and set by the emulator's env()).
PROJECT_ID = "SPECTRUM_PROJECT_ID"
PROJECT_SECRET = "SPECTRUM_PROJECT_SECRET"
CLOUD_URL = "SPECTRUM_CLOUD_URL"
IMESSAGE_ADDRESS = "SPECTRUM_IMESSAGE_ADDRESS"
IMESSAGE_ADDRESS_TEMPLATE = "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"
IMESSAGE_TLS = "SPECTRUM_IMESSAGE_TLS"
TLS_CA_FILE = "SPECTRUM_TLS_CA_FILE"
# Read by the framework integrations (Flask, Django) and the webhook tools.
STATE = "SPECTRUM_STATE"
TIMEOUT = "SPECTRUM_TIMEOUT"
WEBHOOK_SECRET = "SPECTRUM_WEBHOOK_SECRET"
# Read by the telemetry, the emulator and the command line.
OTEL_RAW_ADDRESSES = "SPECTRUM_OTEL_RAW_ADDRESSES"
EMULATOR_ADMIN_TOKEN = "SPECTRUM_EMULATOR_ADMIN_TOKEN"
EMULATOR_UI = "SPECTRUM_EMULATOR_UI"
EMULATOR_PID = "SPECTRUM_EMULATOR_PID"
