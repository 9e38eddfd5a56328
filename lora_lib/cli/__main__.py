"""`python -m lora_lib.cli ...` = `lora ...`."""

import sys

from . import main

sys.exit(main())
