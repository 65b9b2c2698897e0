#!/usr/bin/env bash
# `make demo-llm`: the seed's LLM journey on the local plane.
#
#   1. tidal up                 (the local plane: API, controllers, pods, router)
#   2. tidal serve kserve ...   (the seed's vLLM command with only the module name changed:
#                                tidal's vLLM-compatible runtime on llama.cpp, the demo model)
#   3. the seed's curl through the router, Host header from the InferenceService's status.url
#   4. the seed's hey -c 5, bounded (expect 0 non-2xx)
#
# It stops what it started (`tidal down`) unless KEEP=1. Settings (environment): TIDAL_HOME
# (default ./.tidal-demo), INGRESS_PORT (8080), LOAD (30s), KEEP (0).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export TIDAL_HOME=${TIDAL_HOME:-$ROOT/.tidal-demo}
INGRESS_PORT=${INGRESS_PORT:-8080}
LOAD=${LOAD:-30s}
KEEP=${KEEP:-0}
NAME=qwen
REQUEST='{"model": "qwen", "messages": [{"role": "user", "content": "Perform a text."}], "max_tokens": 10, "temperature": 0.7, "top_p": 0.9, "seed": 10}'

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

started_plane=0
cleanup() {
  local code=$?
  if [ "$started_plane" = 1 ] && [ "$KEEP" != 1 ]; then
    step "cleaning up: tidal down (KEEP=1 keeps the plane running)"
    tidal down || true
  fi
  exit "$code"
}
trap cleanup EXIT INT TERM

step "1. start the local plane"
if ! tidal status >/dev/null 2>&1; then started_plane=1; fi
run tidal up --ingress-port "$INGRESS_PORT"
INGRESS_PORT=$(python -c "import json,os;print(json.load(open(os.environ['TIDAL_HOME']+'/plane.ready'))['ingress_port'])")
INGRESS_IP=127.0.0.1

if tidal get inferenceservice "$NAME" >/dev/null 2>&1; then
  echo "(an earlier $NAME exists: deleting it first)"
  tidal serve delete "$NAME"
  for _ in $(seq 1 120); do
    tidal get deploy "$NAME-predictor" >/dev/null 2>&1 || break
    sleep 0.5
  done
fi

step "2. submit the LLM service (the seed's command, vLLM -> tidal.runtimes.llm)"
run tidal serve kserve --name=qwen --cpu=4 --memory=12Gi \
  "python -m tidal.runtimes.llm --port 8080 --served-model-name qwen --model smollm2-135m-instruct --max-model-len=6144"

echo "waiting for $NAME to be Ready ..."
for i in $(seq 1 240); do
  ready=$(tidal get inferenceservice "$NAME" -o jsonpath="{.status.conditions[?(@.type=='Ready')].status}" 2>/dev/null || true)
  [ "$ready" = True ] && break
  [ "$i" = 240 ] && { echo "not Ready after 120 s"; tidal get pods; exit 1; }
  sleep 0.5
done
run tidal get inferenceservice "$NAME"

step "3. the seed's request through the router"
SERVICE_HOSTNAME=$(tidal get inferenceservice qwen -o jsonpath='{.status.url}' | cut -d "/" -f 3)
echo "SERVICE_HOSTNAME=$SERVICE_HOSTNAME"
run curl -sS -H "Host: $SERVICE_HOSTNAME" -H "Content-Type: application/json" \
  "http://$INGRESS_IP:$INGRESS_PORT/v1/chat/completions" -d "$REQUEST"
echo

step "4. load it: hey -z $LOAD -c 5 (the seed's load test, bounded)"
run hey -z "$LOAD" -c 5 -m POST -host "$SERVICE_HOSTNAME" -H "Content-Type: application/json" \
  -d "$REQUEST" "http://$INGRESS_IP:$INGRESS_PORT/v1/chat/completions"
