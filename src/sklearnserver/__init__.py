"""KServe's `python -m sklearnserver` command line, served by tidal's runtime (same flags)."""
