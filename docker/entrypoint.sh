#!/usr/bin/env bash
# Start IMP Lab: one worker per visible GPU (or $IMP_LAB_WORKERS CPU workers when there is
# none) and the Streamlit app, together. SIGTERM/SIGINT stop them all; when any one of them
# exits, the others are stopped too and the script exits with its status, so the container's
# restart policy brings the whole set back. Hosted mode without a credential refuses to start.
# The app listens on every interface only in hosted mode (sign-in); otherwise on loopback
# unless IMP_LAB_ADDRESS says where (a trusted network).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
PORT="${IMP_LAB_PORT:-8501}"

"$PYTHON" -m engine.settings check  # prints why and exits 2 when it must not start
ADDRESS="${IMP_LAB_ADDRESS:-$("$PYTHON" -m engine.settings address)}"

gpus="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)"
pids=()
stop() {
    trap - TERM INT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT

if [ "$gpus" -gt 0 ]; then
    for ((i = 0; i < gpus; i++)); do
        "$PYTHON" -m engine worker --device "cuda:$i" --worker-id "gpu$i-$HOSTNAME" &
        pids+=($!)
    done
else
    workers="$("$PYTHON" -m engine.settings workers)"
    for ((i = 0; i < workers; i++)); do
        "$PYTHON" -m engine worker --device cpu --worker-id "cpu$i-$HOSTNAME" &
        pids+=($!)
    done
fi
echo "imp-lab: ${#pids[@]} worker(s) started (${gpus} GPU(s) visible)"

# The workers above serve the queue, so the app must not start its own.
IMP_LAB_EMBEDDED_WORKER=0 "$PYTHON" -m streamlit run app/main.py \
    --server.address "$ADDRESS" --server.port "$PORT" --server.headless true \
    --browser.gatherUsageStats false &
pids+=($!)

status=0
wait -n || status=$?
echo "imp-lab: a process exited (status $status); stopping the others"
stop
exit "$status"
