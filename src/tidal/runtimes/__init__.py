"""Model servers that run inside pods: KServe V1 + Open Inference Protocol V2 (sklearn, custom
`tidal.Model` subclasses) and, in `llm/`, the OpenAI-compatible LLM server."""
