#!/usr/bin/env bash
# Makes the Secrets and the ConfigMap a development namespace needs (k8s/overlays/dev, and
# skaffold's `dev` profile with charts/kpr-gateway/ci/dev-values.yaml) from a fresh
# development PKI. Development only: the keys, the pseudonym secret and the passwords are
# throwaway. Needs `make install` (for kprgw) and kubectl pointing at the cluster.
#   usage: k8s/overlays/dev/create-dev-secrets.sh [namespace]   (default kprgw-dev)
set -euo pipefail
namespace="${1:-kprgw-dev}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
# The development tenant (bergen, HER-id 91002) and FHI, whose part the simulator plays.
uv run --no-sync kprgw pki dev --out "$work/pki" --party bergen:964338531 --party fhi:983744516
python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$work/pseudonym.secret"
cat >"$work/parties.yaml" <<'PARTIES'
senders:
  - her_id: "91002"
    signing_certificate: bergen-sign.pem
    encryption_certificate: bergen-enc.pem
PARTIES

apply() {
  kubectl create --namespace "$namespace" --dry-run=client --output yaml "$@" |
    kubectl apply --namespace "$namespace" --filename -
}

kubectl create namespace "$namespace" --dry-run=client --output yaml | kubectl apply --filename -
# The brokers of brokers.yaml (user kprgw, password kprgw-dev).
apply secret generic kpr-gateway-rabbitmq --from-literal=url=amqp://kprgw:kprgw-dev@kprgw-dev-rabbitmq:5672/
apply secret generic kpr-gateway-redis --from-literal=url=redis://kprgw-dev-redis:6379/0
apply secret generic kprgw-dev-nhn --from-literal=password=kprgw-dev
# The tenant's secrets.
apply secret generic bergen-dev-pseudonym --from-file=secret="$work/pseudonym.secret"
apply secret tls bergen-dev-signing --cert="$work/pki/bergen-sign.pem" --key="$work/pki/bergen-sign.key"
apply secret tls bergen-dev-encryption --cert="$work/pki/bergen-enc.pem" --key="$work/pki/bergen-enc.key"
# KPR's certificates as the tenant knows them (receiver_override): here the simulator's.
apply secret generic kpr-dev-receiver \
  --from-file=encryption.crt="$work/pki/fhi-enc.pem" \
  --from-file=signing.crt="$work/pki/fhi-sign.pem"
# The simulator: FHI's pairs, and the senders it knows.
apply secret generic kpr-dev-fhi \
  --from-file=signing.crt="$work/pki/fhi-sign.pem" \
  --from-file=signing.key="$work/pki/fhi-sign.key" \
  --from-file=encryption.crt="$work/pki/fhi-enc.pem" \
  --from-file=encryption.key="$work/pki/fhi-enc.key"
apply configmap kpr-dev-simulator-parties \
  --from-file=parties.yaml="$work/parties.yaml" \
  --from-file=bergen-sign.pem="$work/pki/bergen-sign.pem" \
  --from-file=bergen-enc.pem="$work/pki/bergen-enc.pem"

echo "Secrets made in namespace $namespace."
echo "EPJ API key of tenant bergen: kprgw_dev_bergen_epj_key_for_development_only"
echo "A new PKI replaces the old one: restart the pods that read it (kubectl rollout restart)."
