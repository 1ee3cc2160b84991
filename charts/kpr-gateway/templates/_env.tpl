{{/* Environment variables of the containers. */}}

{{/* OpenTelemetry: resource attributes always, the OTLP exporter when enabled; dict: root. */}}
{{- define "kpr-gateway.otelEnv" -}}
{{- $root := .root -}}
{{- $otlp := $root.Values.tracing.otlp -}}
{{- $attributes := list "k8s.namespace.name=$(K8S_NAMESPACE)" "k8s.pod.name=$(K8S_POD_NAME)" (printf "deployment.environment.name=%s" $root.Values.nhn.environment) -}}
{{- range $key, $value := $otlp.resourceAttributes -}}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value)) -}}
{{- end }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- if $otlp.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $otlp.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
- name: OTEL_TRACES_SAMPLER
  value: {{ $otlp.sampler | quote }}
{{- with $otlp.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- if $otlp.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ $otlp.headersSecret.name }}
      key: {{ $otlp.headersSecret.key }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The settings every pipeline service shares (kpr_gateway.runtime.ServiceSettings);
dict: root, service. */}}
{{- define "kpr-gateway.serviceEnv" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service }}
- name: {{ $prefix }}TENANTS_FILE
  value: {{ include "kpr-gateway.tenantsDir" . }}/tenants.yaml
- name: {{ $prefix }}RABBITMQ_URL
  valueFrom:
    secretKeyRef:
      name: {{ $values.rabbitmq.urlSecret.name }}
      key: {{ $values.rabbitmq.urlSecret.key }}
{{- if $values.redis.bundled.enabled }}
- name: {{ $prefix }}REDIS_URL
  value: {{ include "kpr-gateway.bundledRedisUrl" $root | quote }}
{{- else }}
- name: {{ $prefix }}REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "kpr-gateway.redisUrlSecretName" $root }}
      key: {{ $values.redis.urlSecret.key }}
{{- end }}
- name: {{ $prefix }}QUEUE_PREFIX
  value: {{ $values.rabbitmq.queuePrefix | quote }}
- name: {{ $prefix }}KEY_PREFIX
  value: {{ $values.redis.keyPrefix | quote }}
{{- if include "kpr-gateway.redisPasswordRef" $root | fromJson }}
- name: {{ $prefix }}REDIS_PASSWORD_FILE
  value: {{ include "kpr-gateway.redisSecretsDir" . }}/password
{{- end }}
{{- if include "kpr-gateway.redisCaRef" $root | fromJson }}
- name: {{ $prefix }}REDIS_CA_FILE
  value: {{ include "kpr-gateway.redisSecretsDir" . }}/ca.crt
{{- end }}
- name: {{ $prefix }}MODE
  value: {{ $values.ledger.mode | quote }}
- name: {{ $prefix }}ALLOW_REDIS_WITHOUT_AOF
  value: {{ $values.ledger.allowRedisWithoutAof | quote }}
- name: {{ $prefix }}LEDGER_CHECK_SECONDS
  value: {{ $values.ledger.checkSeconds | quote }}
{{ include "kpr-gateway.processEnv" . }}
{{- end -}}

{{/* Ports, logging, console traces and drain: every service, the simulator too;
dict: root, service. */}}
{{- define "kpr-gateway.processEnv" -}}
{{- $values := .root.Values -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service -}}
{{- if include "kpr-gateway.hasHttpApp" . -}}
- name: {{ $prefix }}HTTP_PORT
  value: {{ include "kpr-gateway.httpPort" . | quote }}
{{ end -}}
- name: {{ $prefix }}OPS_PORT
  value: {{ include "kpr-gateway.opsPort" . | quote }}
- name: {{ $prefix }}LOG_LEVEL
  value: {{ $values.logging.level | quote }}
- name: {{ $prefix }}LOG_JSON
  value: {{ $values.logging.json | quote }}
- name: {{ $prefix }}TRACES_CONSOLE
  value: {{ $values.tracing.console | quote }}
- name: {{ $prefix }}DRAIN_SECONDS
  value: {{ include "kpr-gateway.envText" (dict "value" $values.drainSeconds) | quote }}
{{- end -}}

{{/* The connection to NHN's Tjenestebuss (dispatch, receipts); dict: root, service. */}}
{{- define "kpr-gateway.nhnEnv" -}}
{{- $nhn := .root.Values.nhn -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service -}}
{{- with $nhn.url }}
- name: {{ $prefix }}NHN_URL
  value: {{ . | quote }}
{{- end }}
{{- with $nhn.username }}
- name: {{ $prefix }}NHN_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $nhn.passwordSecret.name }}
- name: {{ $prefix }}NHN_PASSWORD_FILE
  value: {{ include "kpr-gateway.nhnSecretsDir" . }}/password
{{- end }}
{{- if $nhn.caSecret.name }}
- name: {{ $prefix }}NHN_CA_FILE
  value: {{ include "kpr-gateway.nhnSecretsDir" . }}/ca.crt
{{- end }}
- name: {{ $prefix }}NHN_ALLOW_INSECURE
  value: {{ $nhn.allowInsecure | quote }}
{{- if and (eq .service "dispatch") $nhn.exchange }}
- name: {{ $prefix }}NHN_EXCHANGE
  value: {{ $nhn.exchange | quote }}
{{- end }}
{{- end -}}

{{/* The Address Registry (envelope, dispatch, receipts); dict: root, service. */}}
{{- define "kpr-gateway.registryEnv" -}}
{{- $registry := .root.Values.addressRegistry -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service -}}
{{- if $registry.url }}
- name: {{ $prefix }}REGISTRY_URL
  value: {{ $registry.url | quote }}
{{- if $registry.username }}
- name: {{ $prefix }}REGISTRY_USERNAME
  value: {{ $registry.username | quote }}
- name: {{ $prefix }}REGISTRY_PASSWORD_FILE
  value: {{ include "kpr-gateway.registrySecretsDir" . }}/password
{{- end }}
{{- if not (kindIs "invalid" $registry.cacheTtlSeconds) }}
- name: {{ $prefix }}REGISTRY_CACHE_TTL_SECONDS
  value: {{ include "kpr-gateway.envText" (dict "value" $registry.cacheTtlSeconds) | quote }}
{{- end }}
{{- if not (kindIs "invalid" $registry.timeoutSeconds) }}
- name: {{ $prefix }}REGISTRY_TIMEOUT_SECONDS
  value: {{ include "kpr-gateway.envText" (dict "value" $registry.timeoutSeconds) | quote }}
{{- end }}
- name: {{ $prefix }}REGISTRY_TRUST_BUNDLE_FILE
  value: {{ include "kpr-gateway.registrySecretsDir" . }}/trust-bundle.pem
{{- with $registry.receiverOrgNumber }}
- name: {{ $prefix }}REGISTRY_RECEIVER_ORG_NUMBER
  value: {{ . | quote }}
{{- end }}
{{- with $registry.revocation }}
- name: {{ $prefix }}REGISTRY_REVOCATION
  value: {{ . | quote }}
{{- end }}
{{- if not (kindIs "invalid" $registry.crlTimeoutSeconds) }}
- name: {{ $prefix }}REGISTRY_CRL_TIMEOUT_SECONDS
  value: {{ include "kpr-gateway.envText" (dict "value" $registry.crlTimeoutSeconds) | quote }}
{{- end }}
- name: {{ $prefix }}REGISTRY_ALLOW_INSECURE
  value: {{ $registry.allowInsecure | quote }}
{{- end }}
{{- end -}}

{{/* The simulator's own settings (kpr_gateway.simulator.settings); dict: root, service. */}}
{{- define "kpr-gateway.simulatorEnv" -}}
{{- $simulator := .root.Values.simulator -}}
{{- $credentials := $simulator.credentialsSecret -}}
{{- $secrets := include "kpr-gateway.simulatorSecretsDir" . -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service }}
- name: {{ $prefix }}SIGNING_CERTIFICATE
  value: {{ $secrets }}/signing.crt
- name: {{ $prefix }}SIGNING_KEY
  value: {{ $secrets }}/signing.key
- name: {{ $prefix }}ENCRYPTION_CERTIFICATE
  value: {{ $secrets }}/encryption.crt
- name: {{ $prefix }}ENCRYPTION_KEY
  value: {{ $secrets }}/encryption.key
- name: {{ $prefix }}PARTIES_FILE
  value: {{ include "kpr-gateway.simulatorPartiesDir" . }}/parties.yaml
- name: {{ $prefix }}AMQP_URL
  value: {{ $simulator.amqp.url | quote }}
{{- if $simulator.amqp.passwordSecret.name }}
- name: {{ $prefix }}AMQP_PASSWORD_FILE
  value: {{ $secrets }}/amqp-password
{{- end }}
- name: {{ $prefix }}AMQP_ALLOW_INSECURE
  value: {{ $simulator.amqp.allowInsecure | quote }}
{{- if $simulator.registryAuth.username }}
- name: {{ $prefix }}REGISTRY_USERNAME
  value: {{ $simulator.registryAuth.username | quote }}
- name: {{ $prefix }}REGISTRY_PASSWORD_FILE
  value: {{ $secrets }}/registry-password
{{- end }}
{{ include "kpr-gateway.processEnv" . }}
{{- end -}}

{{/* Every variable of a service's container; dict: root, service. */}}
{{- define "kpr-gateway.env" -}}
{{- $v := index .root.Values .service -}}
{{- include "kpr-gateway.otelEnv" . }}
{{- if eq .service "simulator" }}
{{- include "kpr-gateway.simulatorEnv" . }}
{{- else }}
{{- include "kpr-gateway.serviceEnv" . }}
{{- end }}
{{- if has .service (list "dispatch" "receipts") }}
{{- include "kpr-gateway.nhnEnv" . }}
{{- end }}
{{- if eq .service "intake" }}
- name: KPRGW_INTAKE_ANNUAL_SPOOL_DIR
  value: {{ include "kpr-gateway.annualSpoolDir" . }}
{{- end }}
{{- if include "kpr-gateway.usesRegistry" . }}
{{- include "kpr-gateway.registryEnv" . }}
{{- end }}
{{- if and (eq .service "webhooks") .root.Values.webhooks.caSecret.name }}
- name: KPRGW_WEBHOOKS_CA_FILE
  value: {{ include "kpr-gateway.webhooksSecretsDir" . }}/ca.crt
{{- end }}
{{- include "kpr-gateway.settingsEnv" (dict "service" .service "settings" $v.settings) }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
