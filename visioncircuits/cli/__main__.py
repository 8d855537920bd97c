import sys

from visioncircuits.cli import main

sys.exit(main())
