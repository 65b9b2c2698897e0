"""An OpenAI-compatible LLM server that behaves like vLLM's, on llama.cpp (CPU).

`python -m tidal.runtimes.llm --model smollm2-135m-instruct --served-model-name qwen` takes
vLLM's flags and answers vLLM's API (`/v1/chat/completions`, `/v1/completions`, `/v1/models`,
`/health`, `/load`, `/version`, `/metrics`) with vLLM's error format and metric names, so the
manifests, clients and autoscaling rules written for vLLM on a GPU work unchanged on a CPU.

Modules: `args` (flags), `modelpath` (what --model names), `protocol` (request models),
`errors` (vLLM's error body), `sampling` (per-sequence parameters, stop/UTF-8 logic),
`scheduler` (PURE: FIFO admission and slot choice), `cpu` (threads per step from the
machine's load), `engine` (the llama.cpp thread),
`metrics` (vllm:* series), `chat` (chat templates), `responses` (response objects),
`sse` (event streams that notice a gone client), `app` (routes), `server` (startup).
"""
