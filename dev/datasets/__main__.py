"""``python -m gereedschapskist.dev.datasets STATE_DIR``: the sample datasets for ``make up``."""

import sys
from pathlib import Path

from . import load_sample

print(load_sample(Path(sys.argv[1])))
