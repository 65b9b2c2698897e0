"""KServe's `python -m lgbserver` command line, served by tidal's runtime (same flags)."""
