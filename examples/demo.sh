#!/usr/bin/env bash
# `make demo`: the seed's first journey on the local plane, then its load test.
#
#   1. train the iris model into examples/iris/model/
#   2. tidal up                                   (the local plane: API, controllers, pods, router)
#   3. tidal serve kserve ...                     (the seed's command; only --model_dir changed)
#   4. the seed's curl through the router, Host header from the InferenceService's status.url
#   5. tidal serve get sklearn-iris
#   6. hey for a bounded time; `tidal describe hpa` during the load and after it (the HPA's
#      scale-down window is shortened to DOWNSCALE_WINDOW seconds so the demo shows 1 -> N -> 1)
#   7. a plot of the load test (req/s, p99, replicas, the HPA's decisions): its path is printed
#
# It ends by itself and stops what it started (`tidal down`), unless KEEP=1: then the plane,
# the router and the service keep running for you to explore (`tidal down` stops them).
# Settings (environment): TIDAL_HOME (default ./.tidal-demo), INGRESS_PORT (8080),
# LOAD (60s), DOWNSCALE_WINDOW (15), KEEP (0), PLOT (the load test's figure,
# default $TIDAL_HOME/demo-load.png). While it runs, `tidal dashboard` shows it live.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export TIDAL_HOME=${TIDAL_HOME:-$ROOT/.tidal-demo}
INGRESS_PORT=${INGRESS_PORT:-8080}
LOAD=${LOAD:-60s}
DOWNSCALE_WINDOW=${DOWNSCALE_WINDOW:-15}
KEEP=${KEEP:-0}
NAME=sklearn-iris

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

started_plane=0
cleanup() {
  local code=$?
  if [ -n "${HEY_PID:-}" ] && kill -0 "$HEY_PID" 2>/dev/null; then kill "$HEY_PID" || true; fi
  if [ "$started_plane" = 1 ] && [ "$KEEP" != 1 ]; then
    step "cleaning up: tidal down (KEEP=1 keeps the plane running)"
    tidal down || true
  fi
  exit "$code"
}
trap cleanup EXIT INT TERM

step "1. train the iris model (examples/iris/model/)"
run python examples/iris/train.py examples/iris/model

step "2. start the local plane"
if ! tidal status >/dev/null 2>&1; then started_plane=1; fi
run tidal up --ingress-port "$INGRESS_PORT"
INGRESS_PORT=$(python -c "import json,os;print(json.load(open(os.environ['TIDAL_HOME']+'/plane.ready'))['ingress_port'])")

if tidal get inferenceservice "$NAME" >/dev/null 2>&1; then
  echo "(an earlier $NAME exists: deleting it first)"
  tidal serve delete "$NAME"
  for _ in $(seq 1 120); do
    tidal get deploy "$NAME-predictor" >/dev/null 2>&1 || break
    sleep 0.5
  done
fi

step "3. submit the service (the seed's command; the model dir is this checkout's)"
run tidal serve kserve \
    --name=sklearn-iris \
    --image=kube-ai-registry.cn-shanghai.cr.aliyuncs.com/ai-sample/kserve-sklearn-server:v0.12.0 \
    --cpu=1 \
    --memory=200Mi \
    --scale-metric=cpu \
    --scale-target=10 \
    --min-replicas=1 \
    --max-replicas=10 \
    "python -m sklearnserver --model_name=sklearn-iris --model_dir=$ROOT/examples/iris/model --http_port=8080"

echo "waiting for $NAME to be Ready ..."
for i in $(seq 1 240); do
  ready=$(tidal get inferenceservice "$NAME" -o jsonpath="{.status.conditions[?(@.type=='Ready')].status}" 2>/dev/null || true)
  [ "$ready" = True ] && break
  [ "$i" = 240 ] && { echo "not Ready after 120 s"; tidal describe pod "$(tidal get pods -o name | head -1 | cut -d/ -f2)"; exit 1; }
  sleep 0.5
done
run tidal get inferenceservice "$NAME"

step "4. prepare the request and call the service through the router"
cat <<EOF > "$TIDAL_HOME/iris-input.json"
{
  "instances": [
    [6.8,  2.8,  4.8,  1.4],
    [6.0,  3.4,  4.5,  1.6]
  ]
}
EOF
SERVICE_HOSTNAME=$(tidal get inferenceservice sklearn-iris -o jsonpath='{.status.url}' | cut -d "/" -f 3)
echo "SERVICE_HOSTNAME=$SERVICE_HOSTNAME"
run curl -sS -H "Host: $SERVICE_HOSTNAME" -H "Content-Type: application/json" \
     "http://127.0.0.1:$INGRESS_PORT/v1/models/sklearn-iris:predict" -d @"$TIDAL_HOME/iris-input.json"
echo

step "5. the service as arena shows it"
run tidal serve get sklearn-iris

step "6. load it: hey -z $LOAD -c 20 (the seed's load test, bounded)"
# The seed's HPA keeps Kubernetes' 5-minute scale-down window; the demo shortens it so the
# scale-down shows within the demo (KServe leaves `behavior` to the user).
run tidal patch hpa "$NAME-predictor" --type merge \
    -p "{\"spec\":{\"behavior\":{\"scaleDown\":{\"stabilizationWindowSeconds\":$DOWNSCALE_WINDOW}}}}"
LOAD_START=$(date +%s)
hey -z "$LOAD" -c 20 -m POST -host "$SERVICE_HOSTNAME" -H "Content-Type: application/json" \
    -D "$TIDAL_HOME/iris-input.json" "http://127.0.0.1:$INGRESS_PORT/v1/models/sklearn-iris:predict" \
    > "$TIDAL_HOME/hey.txt" &
HEY_PID=$!
sleep 20
step "6a. during the load"
run tidal describe hpa sklearn-iris-predictor
run tidal get pods
wait "$HEY_PID"
HEY_PID=
step "6b. hey's report"
sed -n '/Summary:/,/Requests\/sec/p;/Status code distribution:/,$p' "$TIDAL_HOME/hey.txt"

step "6c. after the load: waiting for the scale-down to 1 replica"
for i in $(seq 1 300); do
  n=$(tidal get deploy "$NAME-predictor" -o jsonpath='{.spec.replicas}')
  [ "$n" = 1 ] && break
  [ $((i % 30)) = 0 ] && echo "  ... ${i}s: $n replicas"
  sleep 1
done
run tidal describe hpa sklearn-iris-predictor
run tidal get pods

step "7. the load test as a picture (what the plane measured: req/s, p99, replicas, decisions)"
PLOT=${PLOT:-$TIDAL_HOME/demo-load.png}
tidal dashboard --plot "$PLOT" --service "default/$NAME-predictor" --since "$LOAD_START" >/dev/null
echo "plot of the load test: $PLOT"

step "done"
if [ "$KEEP" = 1 ]; then
  echo "The plane keeps running (KEEP=1): try 'tidal get all', 'tidal describe isvc $NAME';"
  echo "stop everything with 'TIDAL_HOME=$TIDAL_HOME tidal down'."
fi
