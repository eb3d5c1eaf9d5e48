import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import os  # noqa: E402
import tempfile  # noqa: E402

# `paved dora` keeps a history store under the user's cache dir by default: the CLI runs of these tests
# (and `paved demo`'s) write theirs under a temporary one instead.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="paved-dora-cache-")
