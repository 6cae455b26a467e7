"""A Replicate-compatible HTTP server on loopback: offline mode and the tests' remote side.

Imports nothing of the app; it reads only the bundled model files in ``imagen_ui/models``.
"""

from .control import Emulator
from .recorder import RecordedRequest

__all__ = ["Emulator", "RecordedRequest"]
