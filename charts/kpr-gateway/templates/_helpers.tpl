{{/* Names, labels and the small values every template shares. */}}

{{- define "kpr-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kpr-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of one service's objects; dict: root, service. */}}
{{- define "kpr-gateway.componentName" -}}
{{- printf "%s-%s" (include "kpr-gateway.fullname" .root) .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kpr-gateway.tenantsConfigMapName" -}}
{{- printf "%s-tenants" (include "kpr-gateway.fullname" .) -}}
{{- end -}}

{{/* Labels on every object; dict: root, service (may be empty). */}}
{{- define "kpr-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kpr-gateway
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "kpr-gateway.selectorLabels" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select one service's pods; dict: root, service (may be empty). */}}
{{- define "kpr-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kpr-gateway.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .service }}
app.kubernetes.io/component: {{ .service }}
{{- end }}
{{- end -}}

{{/* The image of a service: repository@digest when the service's image.digest is set (the
digest names the image; a tag could be moved), else repository:tag; dict: root, service. */}}
{{- define "kpr-gateway.image" -}}
{{- $own := (index .root.Values .service).image -}}
{{- $repository := $own.repository | default (printf "%s/kpr-gateway-%s" (trimSuffix "/" .root.Values.image.registry) .service) -}}
{{- if $own.digest -}}
{{- printf "%s@%s" $repository $own.digest -}}
{{- else -}}
{{- $tag := $own.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* KPRGW_<SERVICE>_: the prefix of a service's settings in the environment. */}}
{{- define "kpr-gateway.envPrefix" -}}
{{- printf "KPRGW_%s_" (upper .) -}}
{{- end -}}

{{/* A value as an environment variable's text; dict: value, commaLists. Whole numbers
without an exponent (Helm reads every number in values as a float); lists as JSON, which
pydantic-settings decodes, or comma-separated where a service splits them itself. */}}
{{- define "kpr-gateway.envText" -}}
{{- $value := .value -}}
{{- if kindIs "slice" $value -}}
{{- if .commaLists -}}{{- join "," $value -}}{{- else -}}{{- toJson $value -}}{{- end -}}
{{- else if and (kindIs "float64" $value) (eq (float64 (int64 $value)) $value) -}}
{{- int64 $value -}}
{{- else -}}
{{- toString $value -}}
{{- end -}}
{{- end -}}

{{/* A service's own settings as KPRGW_<SERVICE>_<SETTING> variables; dict: service, settings.
The simulator splits its lists (receiver queues, senders) on commas. */}}
{{- define "kpr-gateway.settingsEnv" -}}
{{- $prefix := include "kpr-gateway.envPrefix" .service -}}
{{- $commaLists := eq .service "simulator" -}}
{{- range $key, $value := .settings }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ printf "%s%s" $prefix ($key | snakecase | upper) }}
  value: {{ include "kpr-gateway.envText" (dict "value" $value "commaLists" $commaLists) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where the tenants file and mounted secrets live inside the containers. */}}
{{- define "kpr-gateway.tenantsDir" -}}/etc/kprgw/tenants{{- end -}}
{{- define "kpr-gateway.tenantSecretsDir" -}}
{{- printf "/var/run/secrets/kprgw/tenants/%s" . -}}
{{- end -}}
{{- define "kpr-gateway.nhnSecretsDir" -}}/var/run/secrets/kprgw/nhn{{- end -}}
{{- define "kpr-gateway.registrySecretsDir" -}}/var/run/secrets/kprgw/registry{{- end -}}
{{- define "kpr-gateway.webhooksSecretsDir" -}}/var/run/secrets/kprgw/webhooks{{- end -}}
{{- define "kpr-gateway.redisSecretsDir" -}}/var/run/secrets/kprgw/redis{{- end -}}
{{- define "kpr-gateway.simulatorSecretsDir" -}}/var/run/secrets/kprgw/simulator{{- end -}}
{{- define "kpr-gateway.simulatorPartiesDir" -}}/etc/kprgw/simulator/parties{{- end -}}

{{/* "true" for the services that look up KPR's receiver (envelope, dispatch, receipts) when
the Address Registry is configured, else empty; dict: root, service. */}}
{{- define "kpr-gateway.usesRegistry" -}}
{{- if and .root.Values.addressRegistry.url (has .service (list "envelope" "dispatch" "receipts")) -}}
true
{{- end -}}
{{- end -}}

{{/* The HTTP port of the services with an HTTP app of their own: intake's API, transform's
operator actions, the simulator's Address Registry. */}}
{{- define "kpr-gateway.httpPort" -}}8080{{- end -}}

{{/* The ops port every container listens on: /healthz, /readyz, /status and /metrics, apart
from any API, so that a NetworkPolicy can admit the scraper to it alone. */}}
{{- define "kpr-gateway.opsPort" -}}9090{{- end -}}

{{/* "true" for the services that serve an HTTP app on the HTTP port, else empty; dict: root,
service. */}}
{{- define "kpr-gateway.hasHttpApp" -}}
{{- if has .service (list "intake" "transform" "simulator") -}}
true
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds of a service; dict: root, service. */}}
{{- define "kpr-gateway.gracePeriod" -}}
{{- $v := index .root.Values .service -}}
{{- $needed := add (int $v.preStopSeconds) (mul 2 (int .root.Values.drainSeconds)) -}}
{{- if kindIs "invalid" $v.terminationGracePeriodSeconds -}}
{{- add $needed 10 -}}
{{- else -}}
{{- $v.terminationGracePeriodSeconds | int -}}
{{- end -}}
{{- end -}}
