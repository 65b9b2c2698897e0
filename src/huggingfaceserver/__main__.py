"""`python -m huggingfaceserver --model_name=NAME --model_dir=DIR --http_port=PORT ...`."""

import sys

from tidal.runtimes.huggingface import main

if __name__ == "__main__":
    sys.exit(main())
