#!/usr/bin/env bash
# jobgate in ten steps, with curl. Start the service first, in another terminal (`make serve`),
# then run this from the repository: examples/walkthrough.sh
# Against another deployment: JOBGATE_URL=... JOBGATE_ADMIN_KEY=... examples/walkthrough.sh
set -euo pipefail

URL=${JOBGATE_URL:-http://127.0.0.1:8000}
field() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }   # read JSON
step() { printf '\n== %s\n' "$*"; }

# 0. wait until the service answers (make serve may still be installing), then read the key
for _ in $(seq 600); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.5; done
ADMIN=${JOBGATE_ADMIN_KEY:-$(cat .jobgate/admin_key)}

step "1. the admin creates a user; their API key is shown once (only its hash is stored)"
KEY=$(curl -sf -X POST "$URL/users" -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' \
        -d "{\"name\": \"Ada\", \"email\": \"ada-$$-$RANDOM@example.com\"}" | field '["api_key"]')

step "2. submit: 202 Accepted and a status URL at once"
JOB=$(curl -sf -X POST "$URL/jobs" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: order-$$-$RANDOM" \
        -d '{"type": "process_data", "payload": {"input": "hello world", "values": [1, 2, 3]}}' \
      | field '["job_id"]')
echo "job $JOB"

step "3. status: wait=10 answers as soon as the status changes (no polling loop needed)"
curl -sf "$URL/jobs/$JOB?wait=10" -H "X-API-Key: $KEY" | field '["status"]'
until [ "$(curl -sf "$URL/jobs/$JOB?wait=10" -H "X-API-Key: $KEY" | field '["status"]')" = completed ]; do :; done
curl -sf "$URL/jobs/$JOB/events" -H "X-API-Key: $KEY" | field '["events"][-1]["kind"]'

step "4. the result: inline JSON, or a redirect to a signed URL when stored as a blob"
curl -sfL "$URL/jobs/$JOB/result" -H "X-API-Key: $KEY"; echo

step "5. a job that makes a file: the ZIP downloads through a signed URL (no API key needed)"
ARCHIVE=$(curl -sf -X POST "$URL/jobs" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
            -d '{"type": "generate_archive", "payload": {"name": "demo", "type": "api"}}' \
          | field '["job_id"]')
until [ "$(curl -sf "$URL/jobs/$ARCHIVE?wait=10" -H "X-API-Key: $KEY" | field '["status"]')" = completed ]; do :; done
LINK=$(curl -sf "$URL/jobs/$ARCHIVE/download-url" -H "X-API-Key: $KEY" | field '["url"]')
case "$LINK" in http*) ;; *) LINK="$URL$LINK" ;; esac      # the local backend signs a path
OUT=$(mktemp -d)
curl -sfo "$OUT/demo.zip" "$LINK"
python3 -m zipfile -l "$OUT/demo.zip"

step "6. cancel a job that is still running"
SLOW=$(curl -sf -X POST "$URL/jobs" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
         -d '{"type": "sleep", "payload": {"seconds": 60}}' | field '["job_id"]')
until [ "$(curl -sf "$URL/jobs/$SLOW?wait=10" -H "X-API-Key: $KEY" | field '["status"]')" = processing ]; do :; done
curl -sf -X DELETE "$URL/jobs/$SLOW" -H "X-API-Key: $KEY" | field '["status"]'
until [ "$(curl -sf "$URL/jobs/$SLOW?wait=10" -H "X-API-Key: $KEY" | field '["status"]')" = cancelled ]; do :; done
echo "job $SLOW cancelled"

step "7. list: your completed process_data jobs, newest first"
curl -sf "$URL/jobs?status=completed&type=process_data&limit=20" -H "X-API-Key: $KEY" \
  | field '["jobs"][0]["job_id"]'

step "8. the queue, as the admin sees it"
curl -sf "$URL/admin/queue-status" -H "Authorization: Bearer $ADMIN"; echo

step "done: the ZIP is in $OUT"
