{{/*
Tenants: the tenants file the services read, and the tenants' Secrets mounted where that file
says. Each secret role is mounted only into the services that read it:

  pseudonym           transform                    (pseudonymous person keys)
  testPersons         transform                    (the municipality's configured test persons)
  signing             envelope, receipts           (the municipality's signing pair)
  encryption          envelope, receipts           (its encryption pair: receipts decrypts)
  previousEncryption  envelope, receipts           (the old encryption pair during a rotation)
  receiver            envelope, dispatch, receipts (KPR's certificates: receiver_override)
  nhnPassword         dispatch, receipts           (the password of the tenant's own NHN account)

and each EPJ client's webhook secret (epj_clients[].webhook, oauth.clients[].webhook) into
webhooks only, as webhook-<client id>.
*/}}

{{- define "kpr-gateway.tenantRoles" -}}
pseudonym: [transform]
testPersons: [transform]
signing: [envelope, receipts]
encryption: [envelope, receipts]
previousEncryption: [envelope, receipts]
receiver: [envelope, dispatch, receipts]
nhnPassword: [dispatch, receipts]
{{- end -}}

{{/* The roles in the order they are mounted. */}}
{{- define "kpr-gateway.tenantRoleOrder" -}}
[pseudonym, testPersons, signing, encryption, previousEncryption, receiver, nhnPassword]
{{- end -}}

{{/* The files of one secret role: a YAML list of {key (in the Secret), path (file name),
field (in the tenants file)}; dict: role, ref. */}}
{{- define "kpr-gateway.tenantSecretItems" -}}
{{- $ref := .ref -}}
{{- if eq .role "pseudonym" }}
- {key: {{ $ref.key | default "secret" | quote }}, path: pseudonym.secret, field: pseudonym_secret_file}
{{- else if eq .role "testPersons" }}
- {key: {{ $ref.key | default "test-persons" | quote }}, path: test-persons.txt, field: test_persons_file}
{{- else if eq .role "nhnPassword" }}
- {key: {{ $ref.key | default "password" | quote }}, path: nhn.password, field: password_file}
{{- else if eq .role "receiver" }}
- {key: {{ $ref.encryptionCertificateKey | default "encryption.crt" | quote }}, path: receiver-encryption.crt, field: encryption_certificate}
- {key: {{ $ref.signingCertificateKey | default "signing.crt" | quote }}, path: receiver-signing.crt, field: signing_certificate}
{{- else }}
{{- $base := .role | kebabcase }}
{{- if $ref.pkcs12Key }}
- {key: {{ $ref.pkcs12Key | quote }}, path: {{ $base }}.p12, field: pkcs12}
{{- else }}
- {key: {{ $ref.certificateKey | default "tls.crt" | quote }}, path: {{ $base }}.crt, field: certificate}
- {key: {{ $ref.keyKey | default "tls.key" | quote }}, path: {{ $base }}.key, field: key}
{{- end }}
{{- with $ref.passwordKey }}
- {key: {{ . | quote }}, path: {{ $base }}.password, field: password_file}
{{- end }}
{{- end }}
{{- end -}}

{{/* A tenant's EPJ clients, API-key and OAuth alike, as JSON; dict: tenant. */}}
{{- define "kpr-gateway.tenantClients" -}}
{{- $oauth := .tenant.oauth | default dict -}}
{{- concat (.tenant.epj_clients | default list) ($oauth.clients | default list) | toJson -}}
{{- end -}}

{{/* The projected-volume sources of one tenant's webhook secrets; dict: tenant. */}}
{{- define "kpr-gateway.webhookSources" -}}
{{- range $client := include "kpr-gateway.tenantClients" . | fromJsonArray }}
{{- with $client.webhook }}
- secret:
    name: {{ .secret.name }}
    items:
      - key: {{ .secret.key | default "secret" | quote }}
        path: webhook-{{ $client.id }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The projected-volume sources of one tenant for one service (empty when the service reads
none of its secrets); dict: tenant, service. */}}
{{- define "kpr-gateway.tenantSources" -}}
{{- $tenant := .tenant -}}
{{- $service := .service -}}
{{- $roles := include "kpr-gateway.tenantRoles" . | fromYaml -}}
{{- range $role := include "kpr-gateway.tenantRoleOrder" . | fromYamlArray }}
{{- $ref := index $tenant.secrets $role }}
{{- if and $ref (has $service (index $roles $role)) }}
- secret:
    name: {{ $ref.name }}
    items:
    {{- range $item := include "kpr-gateway.tenantSecretItems" (dict "role" $role "ref" $ref) | fromYamlArray }}
      - key: {{ $item.key | quote }}
        path: {{ $item.path }}
    {{- end }}
{{- end }}
{{- end }}
{{- if eq $service "webhooks" }}
{{- include "kpr-gateway.webhookSources" . }}
{{- end }}
{{- end -}}

{{/* The volumes of a service's tenant secrets; dict: root, service. */}}
{{- define "kpr-gateway.tenantVolumes" -}}
{{- $service := .service -}}
{{- range $tenant := .root.Values.tenants }}
{{- $sources := include "kpr-gateway.tenantSources" (dict "tenant" $tenant "service" $service) }}
{{- if $sources }}
- name: tenant-{{ $tenant.id }}
  projected:
    defaultMode: 288  # 0440: the pod's group reads, nobody writes
    sources:
    {{- $sources | trim | nindent 6 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The mounts of a service's tenant secrets; dict: root, service. */}}
{{- define "kpr-gateway.tenantVolumeMounts" -}}
{{- $service := .service -}}
{{- range $tenant := .root.Values.tenants }}
{{- if include "kpr-gateway.tenantSources" (dict "tenant" $tenant "service" $service) }}
- name: tenant-{{ $tenant.id }}
  mountPath: {{ include "kpr-gateway.tenantSecretsDir" $tenant.id }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* One tenants-file entry: the tenant's values with `secrets` replaced by the paths where
they are mounted. */}}
{{- define "kpr-gateway.tenantEntry" -}}
{{- $tenant := . -}}
{{- $dir := include "kpr-gateway.tenantSecretsDir" $tenant.id -}}
{{- $files := dict -}}
{{- range $role := include "kpr-gateway.tenantRoleOrder" . | fromYamlArray -}}
{{- $ref := index $tenant.secrets $role -}}
{{- if $ref -}}
{{- $paths := dict -}}
{{- range $item := include "kpr-gateway.tenantSecretItems" (dict "role" $role "ref" $ref) | fromYamlArray -}}
{{- $_ := set $paths $item.field (printf "%s/%s" $dir $item.path) -}}
{{- end -}}
{{- $_ := set $files $role $paths -}}
{{- end -}}
{{- end -}}
{{/* A copy: the clients' webhooks are rewritten below, and .Values is read again. */}}
{{- $entry := omit (deepCopy $tenant) "secrets" -}}
{{- $clients := $entry.epj_clients | default list -}}
{{- with $entry.oauth -}}
{{- $clients = concat $clients (.clients | default list) -}}
{{- end -}}
{{- range $client := $clients -}}
{{- with $client.webhook -}}
{{- $_ := set . "secret_file" (printf "%s/webhook-%s" $dir $client.id) -}}
{{- $_ := unset . "secret" -}}
{{- end -}}
{{- end -}}
{{- $_ := set $entry "pseudonym_secret_file" $files.pseudonym.pseudonym_secret_file -}}
{{- with $files.testPersons -}}
{{- $_ := set $entry "test_persons_file" .test_persons_file -}}
{{- end -}}
{{- if $files.signing -}}
{{- $certificates := dict "signing" $files.signing "encryption" $files.encryption -}}
{{- with $files.previousEncryption -}}
{{- $_ := set $certificates "previous_encryption" . -}}
{{- end -}}
{{- $_ := set $entry "certificates" $certificates -}}
{{- end -}}
{{- if $files.receiver -}}
{{- $override := merge (deepCopy $files.receiver) (deepCopy ($tenant.receiver_override | default dict)) -}}
{{- $_ := set $entry "receiver_override" $override -}}
{{- end -}}
{{- if $files.nhnPassword -}}
{{- $nhn := merge (deepCopy $files.nhnPassword) (deepCopy ($tenant.nhn | default dict)) -}}
{{- $_ := set $entry "nhn" $nhn -}}
{{- end -}}
{{- toYaml $entry -}}
{{- end -}}

{{/* The whole tenants file. */}}
{{- define "kpr-gateway.tenantsFile" -}}
{{- $entries := list -}}
{{- range $tenant := .Values.tenants -}}
{{- $entries = append $entries (include "kpr-gateway.tenantEntry" $tenant | fromYaml) -}}
{{- end -}}
{{- toYaml (dict "tenants" $entries) -}}
{{- end -}}
