"""The optional frameworks stay optional: the core, the webhooks module and the Django
app's package import none of them (nor does making a client)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import spectrum_sync, spectrum_sync.webhooks, spectrum_sync.django
client = spectrum_sync.Client(project_id="p", project_secret="s")
client.close()
print(sorted(m for m in sys.modules
             if m.split(".")[0] in {"flask", "werkzeug", "django", "celery", "redis"}))
"""


def test_no_framework_is_imported_by_the_core() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
