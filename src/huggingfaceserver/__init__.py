"""KServe's `python -m huggingfaceserver` command line on tidal's GGUF/CPU LLM runtime."""
