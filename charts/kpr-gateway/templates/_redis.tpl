{{/*
The ledger's Redis: an external one (redis.urlSecret, passwordSecret, caSecret), or the
bundled one (redis.bundled) whose URL, password file and CA the chart derives itself.
*/}}

{{- define "kpr-gateway.redisPort" -}}6379{{- end -}}

{{/* The services that use the ledger, as JSON: the only pods the bundled Redis admits (a
service the chart deploys later joins this list if it reads or writes the ledger). */}}
{{- define "kpr-gateway.ledgerClients" -}}
{{- list "intake" "transform" "envelope" "dispatch" "receipts" "webhooks" | toJson -}}
{{- end -}}

{{/* The bundled Redis' objects: StatefulSet, Service, ConfigMap, ... At most 52 characters:
the StatefulSet's pods carry a label of its name and a 10-character hash. */}}
{{- define "kpr-gateway.bundledRedisName" -}}
{{- printf "%s-redis" (include "kpr-gateway.fullname" . | trunc 46 | trimSuffix "-") -}}
{{- end -}}

{{/* The Secret with an external Redis' URL; empty name: kpr-gateway-redis. */}}
{{- define "kpr-gateway.redisUrlSecretName" -}}
{{- .Values.redis.urlSecret.name | default "kpr-gateway-redis" -}}
{{- end -}}

{{/* The bundled Redis' URL: its Service, without a password (that comes as a file). A TLS
certificate must name this host (docs: "The bundled Redis"). */}}
{{- define "kpr-gateway.bundledRedisUrl" -}}
{{- $scheme := ternary "rediss" "redis" .Values.redis.bundled.tls.enabled -}}
{{- $host := printf "%s.%s.svc" (include "kpr-gateway.bundledRedisName" .) .Release.Namespace -}}
{{- printf "%s://%s:%s/0" $scheme $host (include "kpr-gateway.redisPort" .) -}}
{{- end -}}

{{/* The Secret key with Redis' password as JSON {name, key}; {} when there is none. */}}
{{- define "kpr-gateway.redisPasswordRef" -}}
{{- $redis := .Values.redis -}}
{{- if $redis.bundled.enabled -}}
{{- dict "name" $redis.bundled.auth.existingSecret "key" $redis.bundled.auth.key | toJson -}}
{{- else if $redis.passwordSecret.name -}}
{{- $redis.passwordSecret | toJson -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The Secret key with the CA that signs Redis' certificate as JSON {name, key}; {} without
TLS or when the system's CAs are trusted. */}}
{{- define "kpr-gateway.redisCaRef" -}}
{{- $redis := .Values.redis -}}
{{- if $redis.bundled.enabled -}}
{{- if $redis.bundled.tls.enabled -}}
{{- dict "name" $redis.bundled.tls.existingSecret "key" $redis.bundled.tls.caKey | toJson -}}
{{- else -}}
{}
{{- end -}}
{{- else if $redis.caSecret.name -}}
{{- $redis.caSecret | toJson -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The services' NetworkPolicy egress to Redis: the bundled Redis' pods only, or
redis.egress for an external one; dict: root. */}}
{{- define "kpr-gateway.redisEgress" -}}
{{- $root := .root -}}
{{- if $root.Values.redis.bundled.enabled -}}
{{- $selector := include "kpr-gateway.selectorLabels" (dict "root" $root "service" "redis") | fromYaml -}}
{{- $to := list (dict "podSelector" (dict "matchLabels" $selector)) -}}
{{- include "kpr-gateway.egressRule" (dict "to" $to "ports" (list (include "kpr-gateway.redisPort" $root | int))) -}}
{{- else -}}
{{- include "kpr-gateway.egressRule" $root.Values.redis.egress -}}
{{- end -}}
{{- end -}}

{{/* Where the bundled Redis finds its files. */}}
{{- define "kpr-gateway.bundledRedisConfigDir" -}}/etc/kprgw/redis{{- end -}}
{{- define "kpr-gateway.bundledRedisRunDir" -}}/run/kprgw-redis{{- end -}}
{{- define "kpr-gateway.bundledRedisDataDir" -}}/data{{- end -}}

{{/* The bundled Redis' image: registry/repository, then @digest or :tag. */}}
{{- define "kpr-gateway.bundledRedisImage" -}}
{{- $image := .Values.redis.bundled.image -}}
{{- $repository := printf "%s/%s" (trimSuffix "/" $image.registry) $image.repository -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $image.tag -}}
{{- end -}}
{{- end -}}

{{/* redis-cli's options to reach the Redis of its own pod (TLS: no host name to check). */}}
{{- define "kpr-gateway.bundledRedisCliOptions" -}}
{{- $tls := .Values.redis.bundled.tls.enabled -}}
-h 127.0.0.1 -p {{ include "kpr-gateway.redisPort" . }}
{{- if $tls }} --tls --cacert {{ include "kpr-gateway.redisSecretsDir" . }}/ca.crt{{ end }}
{{- end -}}
