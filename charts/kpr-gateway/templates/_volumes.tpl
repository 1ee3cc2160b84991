{{/* Volumes and mounts: a writable /tmp, intake's spool for annual uploads, and everything
else read-only. */}}

{{- define "kpr-gateway.annualSpoolDir" -}}
/var/spool/kprgw-annual
{{- end -}}

{{- define "kpr-gateway.volumes" -}}
{{- $root := .root -}}
{{- $values := $root.Values }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if eq .service "intake" }}
- name: annual-spool
  emptyDir:
    sizeLimit: {{ $values.intake.annualSpool.sizeLimit }}
{{- end }}
{{- if eq .service "simulator" }}
{{- $simulator := $values.simulator }}
- name: simulator-secrets
  projected:
    defaultMode: 288  # 0440
    sources:
      - secret:
          name: {{ $simulator.credentialsSecret.name }}
          items:
            - {key: {{ $simulator.credentialsSecret.signingCertificateKey | quote }}, path: signing.crt}
            - {key: {{ $simulator.credentialsSecret.signingKeyKey | quote }}, path: signing.key}
            - {key: {{ $simulator.credentialsSecret.encryptionCertificateKey | quote }}, path: encryption.crt}
            - {key: {{ $simulator.credentialsSecret.encryptionKeyKey | quote }}, path: encryption.key}
      {{- if $simulator.amqp.passwordSecret.name }}
      - secret:
          name: {{ $simulator.amqp.passwordSecret.name }}
          items:
            - {key: {{ $simulator.amqp.passwordSecret.key | quote }}, path: amqp-password}
      {{- end }}
      {{- if $simulator.registryAuth.username }}
      - secret:
          name: {{ $simulator.registryAuth.passwordSecret.name }}
          items:
            - {key: {{ $simulator.registryAuth.passwordSecret.key | quote }}, path: registry-password}
      {{- end }}
- name: simulator-parties
  configMap:
    name: {{ $simulator.partiesConfigMap }}
{{- else }}
- name: tenants
  configMap:
    name: {{ include "kpr-gateway.tenantsConfigMapName" $root }}
{{- include "kpr-gateway.tenantVolumes" . }}
{{- end }}
{{- if and (has .service (list "dispatch" "receipts")) (or $values.nhn.passwordSecret.name $values.nhn.caSecret.name) }}
- name: nhn
  projected:
    defaultMode: 288  # 0440
    sources:
      {{- with $values.nhn.passwordSecret }}
      {{- if .name }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .key | quote }}, path: password}
      {{- end }}
      {{- end }}
      {{- with $values.nhn.caSecret }}
      {{- if .name }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .key | quote }}, path: ca.crt}
      {{- end }}
      {{- end }}
{{- end }}
{{- $redisPassword := include "kpr-gateway.redisPasswordRef" $root | fromJson }}
{{- $redisCa := include "kpr-gateway.redisCaRef" $root | fromJson }}
{{- if and (ne .service "simulator") (or $redisPassword $redisCa) }}
- name: redis
  projected:
    defaultMode: 288  # 0440
    sources:
      {{- with $redisPassword }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .key | quote }}, path: password}
      {{- end }}
      {{- with $redisCa }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .key | quote }}, path: ca.crt}
      {{- end }}
{{- end }}
{{- if include "kpr-gateway.usesRegistry" . }}
{{- $registry := $values.addressRegistry }}
{{- $bundle := $registry.trustBundle }}
- name: registry
  projected:
    defaultMode: 288  # 0440
    sources:
      {{- if $registry.username }}
      - secret:
          name: {{ $registry.passwordSecret.name }}
          items:
            - {key: {{ $registry.passwordSecret.key | quote }}, path: password}
      {{- end }}
      {{- if $bundle.secretName }}
      - secret:
          name: {{ $bundle.secretName }}
          items:
            - {key: {{ $bundle.key | quote }}, path: trust-bundle.pem}
      {{- else }}
      - configMap:
          name: {{ $bundle.configMapName }}
          items:
            - {key: {{ $bundle.key | quote }}, path: trust-bundle.pem}
      {{- end }}
{{- end }}
{{- if and (eq .service "webhooks") $values.webhooks.caSecret.name }}
- name: webhooks-ca
  projected:
    defaultMode: 288  # 0440
    sources:
      - secret:
          name: {{ $values.webhooks.caSecret.name }}
          items:
            - {key: {{ $values.webhooks.caSecret.key | quote }}, path: ca.crt}
{{- end }}
{{- end -}}

{{- define "kpr-gateway.volumeMounts" -}}
{{- $values := .root.Values }}
- name: tmp
  mountPath: /tmp
{{- if eq .service "intake" }}
- name: annual-spool
  mountPath: {{ include "kpr-gateway.annualSpoolDir" . }}
{{- end }}
{{- if eq .service "simulator" }}
- name: simulator-secrets
  mountPath: {{ include "kpr-gateway.simulatorSecretsDir" . }}
  readOnly: true
- name: simulator-parties
  mountPath: {{ include "kpr-gateway.simulatorPartiesDir" . }}
  readOnly: true
{{- else }}
- name: tenants
  mountPath: {{ include "kpr-gateway.tenantsDir" . }}
  readOnly: true
{{- include "kpr-gateway.tenantVolumeMounts" . }}
{{- end }}
{{- if and (has .service (list "dispatch" "receipts")) (or $values.nhn.passwordSecret.name $values.nhn.caSecret.name) }}
- name: nhn
  mountPath: {{ include "kpr-gateway.nhnSecretsDir" . }}
  readOnly: true
{{- end }}
{{- if and (ne .service "simulator") (or (include "kpr-gateway.redisPasswordRef" .root | fromJson) (include "kpr-gateway.redisCaRef" .root | fromJson)) }}
- name: redis
  mountPath: {{ include "kpr-gateway.redisSecretsDir" . }}
  readOnly: true
{{- end }}
{{- if include "kpr-gateway.usesRegistry" . }}
- name: registry
  mountPath: {{ include "kpr-gateway.registrySecretsDir" . }}
  readOnly: true
{{- end }}
{{- if and (eq .service "webhooks") $values.webhooks.caSecret.name }}
- name: webhooks-ca
  mountPath: {{ include "kpr-gateway.webhooksSecretsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}
