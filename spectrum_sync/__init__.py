"""spectrum_sync: a synchronous, thread-based client for Spectrum's iMessage platform.

Only the public names live here. Heavy or optional parts (the emulator, local
Mac mode, the command line) are imported lazily by their own modules.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
