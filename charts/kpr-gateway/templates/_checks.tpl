{{/*
Rules across values that values.schema.json cannot express; each stops the release with a
reason instead of deploying pods that would fail at start (or send where they must not).
*/}}
{{- define "kpr-gateway.checks" -}}
{{- $values := .Values -}}
{{- $ids := list -}}
{{- range $tenant := $values.tenants -}}
{{- if has $tenant.id $ids -}}
{{- fail (printf "tenants: the id %s is used twice" $tenant.id) -}}
{{- end -}}
{{- $ids = append $ids $tenant.id -}}
{{- if and (eq $tenant.environment "production") (ne $values.nhn.environment "production") -}}
{{- fail (printf "tenants: %s targets production, but nhn.environment is %s: a test release never sends to production" $tenant.id $values.nhn.environment) -}}
{{- end -}}
{{- $secrets := $tenant.secrets -}}
{{- if ne (hasKey $secrets "signing") (hasKey $secrets "encryption") -}}
{{- fail (printf "tenants: %s: secrets.signing and secrets.encryption go together" $tenant.id) -}}
{{- end -}}
{{- if and (hasKey $secrets "previousEncryption") (not (hasKey $secrets "encryption")) -}}
{{- fail (printf "tenants: %s: secrets.previousEncryption needs secrets.encryption" $tenant.id) -}}
{{- end -}}
{{- if and (not $values.addressRegistry.url) (not (hasKey $secrets "receiver")) -}}
{{- fail (printf "tenants: %s: secrets.receiver (KPR's certificates) is needed without addressRegistry.url" $tenant.id) -}}
{{- end -}}
{{- if and $tenant.receiver_override (not (hasKey $secrets "receiver")) -}}
{{- fail (printf "tenants: %s: receiver_override needs secrets.receiver (KPR's certificates)" $tenant.id) -}}
{{- end -}}
{{- end -}}
{{- if and $values.simulator.enabled (eq $values.nhn.environment "production") -}}
{{- fail "simulator.enabled: the simulator is test infrastructure; nhn.environment is production" -}}
{{- end -}}
{{- if and $values.simulator.enabled (not $values.simulator.amqp.url) -}}
{{- fail "simulator.amqp.url: the simulator needs the broker that plays the Tjenestebuss" -}}
{{- end -}}
{{- with $values.addressRegistry -}}
{{- if .url -}}
{{- if and .trustBundle.configMapName .trustBundle.secretName -}}
{{- fail "addressRegistry.trustBundle: set configMapName or secretName, not both" -}}
{{- end -}}
{{- if not (or .trustBundle.configMapName .trustBundle.secretName) -}}
{{- fail "addressRegistry.trustBundle: addressRegistry.url needs the CA certificates (PEM) the registry's certificates must chain to (Buypass, Commfides): set trustBundle.configMapName or trustBundle.secretName" -}}
{{- end -}}
{{- if and (hasPrefix "http://" .url) (not .allowInsecure) -}}
{{- fail "addressRegistry.url: http:// needs addressRegistry.allowInsecure (a local registry only); NHN's registry is https://" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $values.addressRegistry.username (not $values.addressRegistry.passwordSecret.name) -}}
{{- fail "addressRegistry: a username needs its passwordSecret" -}}
{{- end -}}
{{- if and $values.simulator.registryAuth.username (not $values.simulator.registryAuth.passwordSecret.name) -}}
{{- fail "simulator.registryAuth: a username needs its passwordSecret" -}}
{{- end -}}
{{- if $values.transform.autoscaling.enabled -}}
{{- fail "transform.autoscaling: the events queue has a single active consumer, so more transform replicas only stand by; set transform.replicas (2 for a standby) instead" -}}
{{- end -}}
{{- if and $values.tracing.otlp.enabled (not $values.tracing.otlp.endpoint) -}}
{{- fail "tracing.otlp.endpoint: set the collector's OTLP/HTTP endpoint, or disable tracing.otlp" -}}
{{- end -}}
{{- if eq (int $values.intake.service.port) (int (include "kpr-gateway.opsPort" .)) -}}
{{- fail (printf "intake.service.port: %d is the Service's ops port (health, metrics); choose another for the API" (int $values.intake.service.port)) -}}
{{- end -}}
{{- include "kpr-gateway.redisChecks" . -}}
{{- range $service := list "intake" "transform" "envelope" "dispatch" "receipts" "webhooks" "simulator" -}}
{{- $v := index $values $service -}}
{{- $needed := add (int $v.preStopSeconds) (mul 2 (int $values.drainSeconds)) -}}
{{- if le (int (include "kpr-gateway.gracePeriod" (dict "root" $ "service" $service))) $needed -}}
{{- fail (printf "%s.terminationGracePeriodSeconds must be longer than preStopSeconds + 2 * drainSeconds (%d), or pods are killed before they drain" $service $needed) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ledger's Redis is either the bundled one or an external one, never half of each. */}}
{{- define "kpr-gateway.redisChecks" -}}
{{- $redis := .Values.redis -}}
{{- $bundled := $redis.bundled -}}
{{- if $bundled.enabled -}}
{{- if $redis.urlSecret.name -}}
{{- fail "redis.urlSecret: with redis.bundled.enabled the services connect to the bundled Redis; an external Redis' URL Secret contradicts it (leave redis.urlSecret.name empty, or turn redis.bundled off)" -}}
{{- end -}}
{{- if $redis.passwordSecret.name -}}
{{- fail "redis.passwordSecret is an external Redis' password; the bundled Redis' comes from redis.bundled.auth.existingSecret" -}}
{{- end -}}
{{- if $redis.caSecret.name -}}
{{- fail "redis.caSecret is an external Redis' CA; the bundled Redis' comes from redis.bundled.tls.existingSecret" -}}
{{- end -}}
{{- if not $bundled.auth.existingSecret -}}
{{- fail "redis.bundled.auth.existingSecret: the bundled Redis needs a password, from an existing Secret (the chart makes no Secrets)" -}}
{{- end -}}
{{- if and $bundled.tls.enabled (not $bundled.tls.existingSecret) -}}
{{- fail "redis.bundled.tls.existingSecret: TLS needs an existing Secret with the certificate, its key and the CA" -}}
{{- end -}}
{{- if $.Values.ledger.allowRedisWithoutAof -}}
{{- fail "ledger.allowRedisWithoutAof: the bundled Redis keeps an AOF synced every second; the exception is for an external Redis without one" -}}
{{- end -}}
{{- end -}}
{{- end -}}
