"""`python -m tidal.plane --home DIR`: the plane in this process (`tidal.plane.main`)."""

import sys

from tidal.plane.main import main

sys.exit(main())
