"""`python -m sklearnserver --model_name=NAME --model_dir=DIR --http_port=PORT [--workers N]`."""

import sys

from tidal.runtimes.sklearn import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m sklearnserver"))
