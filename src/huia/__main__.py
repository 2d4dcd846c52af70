import sys

from huia.cli import main

sys.exit(main())
