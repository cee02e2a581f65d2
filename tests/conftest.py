"""Suite-wide settings.

Under CI (``CI`` set in the environment) hypothesis runs derandomized: every CI run explores
the same examples, so a red build always reproduces and never depends on a lucky draw.
Locally it explores freshly each run, and prints a reproduction blob for any failure.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
