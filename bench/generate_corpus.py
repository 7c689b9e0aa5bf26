"""Write the deterministic benchmark mailbox: `python bench/generate_corpus.py OUT [--count N]`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.mailgen import main

if __name__ == "__main__":
    sys.exit(main())
