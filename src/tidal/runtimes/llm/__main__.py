"""`python -m tidal.runtimes.llm`: the vLLM-compatible CPU server."""

from tidal.runtimes.llm.server import main

if __name__ == "__main__":
    raise SystemExit(main())
