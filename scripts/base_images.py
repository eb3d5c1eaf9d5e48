#!/usr/bin/env python3
"""Build (or load from .cache/base-images/) the local stand-ins for node:<version>-bookworm-slim.

    sudo .venv/bin/python scripts/base_images.py [--major 24] [--arch amd64 --arch arm64] [--rebuild]

The logic lives in tests/image/image_base.py; docs/images.md says how the
stand-ins differ from the official images.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "image"))

from image_base import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
