"""`python -m lgbserver --model_name=NAME --model_dir=DIR --http_port=PORT [--nthread N]`."""

import sys

from tidal.runtimes.lightgbm import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m lgbserver"))
