"""KServe's `python -m xgbserver` command line, served by tidal's runtime (same flags)."""
