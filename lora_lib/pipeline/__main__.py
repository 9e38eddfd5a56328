"""`python -m lora_lib.pipeline`: one character's chain in this process (what a batch starts per character)."""

import sys

from .chain import main

sys.exit(main())
