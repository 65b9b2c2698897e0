#!/usr/bin/env bash
# The seed's LLM journey on the local plane (`make demo-llm`): serve "qwen" with tidal's
# vLLM-compatible CPU runtime, ask it the seed's question through the router with the Host
# header, then load it with hey -c 5 (expect 0 non-2xx).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
INGRESS=${TIDAL_INGRESS:-http://127.0.0.1:8080}
DURATION=${HEY_DURATION:-30s}
REQUEST='{"model": "qwen", "messages": [{"role": "user", "content": "Perform a text."}], "max_tokens": 10, "temperature": 0.7, "top_p": 0.9, "seed": 10}'

tidal up

tidal serve kserve --name=qwen --cpu=4 --memory=12Gi \
  "python -m tidal.runtimes.llm --port 8080 --served-model-name qwen --model smollm2-135m-instruct --max-model-len=6144"

SERVICE_HOSTNAME=$(tidal get inferenceservice qwen -o jsonpath='{.status.url}' | cut -d "/" -f 3)
echo "waiting for qwen ($SERVICE_HOSTNAME) to answer through the router at $INGRESS ..."
for _ in $(seq 1 120); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $SERVICE_HOSTNAME" "$INGRESS/v1/models" || true)
  [ "$code" = 200 ] && break
  sleep 1
  SERVICE_HOSTNAME=$(tidal get inferenceservice qwen -o jsonpath='{.status.url}' | cut -d "/" -f 3)
done

curl -H "Host: $SERVICE_HOSTNAME" -H "Content-Type: application/json" \
  "$INGRESS/v1/chat/completions" -d "$REQUEST"
echo

hey -z "$DURATION" -c 5 -m POST -host "$SERVICE_HOSTNAME" -H "Content-Type: application/json" \
  -d "$REQUEST" "$INGRESS/v1/chat/completions"
