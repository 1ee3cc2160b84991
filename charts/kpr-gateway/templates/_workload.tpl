{{/*
The objects every service has, built from the service's values; each service's folder calls
these with dict: root, service.
*/}}

{{- define "kpr-gateway.deployment" -}}
{{- $root := .root -}}
{{- $service := .service -}}
{{- $v := index $root.Values $service -}}
{{- $autoscaled := and $v.autoscaling $v.autoscaling.enabled -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
spec:
  {{- if not $autoscaled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  minReadySeconds: 5
  # A new pod is ready before an old one stops; the old one drains on SIGTERM.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "kpr-gateway.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kpr-gateway.labels" . | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        kubectl.kubernetes.io/default-container: {{ $service }}
        {{- if ne $service "simulator" }}
        # A changed tenants file rolls the pods that read it.
        checksum/tenants: {{ include (print $root.Template.BasePath "/common/tenants-configmap.yaml") $root | sha256sum }}
        {{- end }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ include "kpr-gateway.opsPort" . | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "kpr-gateway.componentName" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "kpr-gateway.gracePeriod" . }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ $root.Values.podSecurity.runAsUser }}
        runAsGroup: {{ $root.Values.podSecurity.runAsGroup }}
        fsGroup: {{ $root.Values.podSecurity.fsGroup }}
        fsGroupChangePolicy: OnRootMismatch
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: {{ $service }}
          image: {{ include "kpr-gateway.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            {{- if include "kpr-gateway.hasHttpApp" . }}
            - name: http
              containerPort: {{ include "kpr-gateway.httpPort" . }}
              protocol: TCP
            {{- end }}
            - name: ops
              containerPort: {{ include "kpr-gateway.opsPort" . }}
              protocol: TCP
          env:
            {{- include "kpr-gateway.env" . | trim | nindent 12 }}
          # On the ops port. /healthz stays 200 while draining; /readyz turns 503 at SIGTERM
          # and while the pod's own dependencies (broker, Redis) are unreachable. NHN and the
          # Address Registry, down for every pod alike, are in /status and the metrics instead.
          startupProbe:
            httpGet: {path: /healthz, port: ops}
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: /healthz, port: ops}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /readyz, port: ops}
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 2
          {{- if gt (int $v.preStopSeconds) 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $v.preStopSeconds }}
          {{- end }}
          {{- with $v.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            privileged: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
            seccompProfile:
              type: RuntimeDefault
          volumeMounts:
            {{- include "kpr-gateway.volumeMounts" . | trim | nindent 12 }}
      volumes:
        {{- include "kpr-gateway.volumes" . | trim | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The service's ports: its HTTP app's (intake's API on intake.service.port), if it has
one, and the ops port (the ServiceMonitor's, and `helm test`'s). */}}
{{- define "kpr-gateway.service" -}}
{{- $v := index .root.Values .service -}}
{{- $port := include "kpr-gateway.httpPort" . | int -}}
{{- $type := "ClusterIP" -}}
{{- with $v.service -}}
{{- $port = .port | int -}}
{{- $type = .type -}}
{{- end -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
spec:
  type: {{ $type }}
  selector:
    {{- include "kpr-gateway.selectorLabels" . | nindent 4 }}
  ports:
    {{- if include "kpr-gateway.hasHttpApp" . }}
    - name: http
      port: {{ $port }}
      targetPort: http
      protocol: TCP
    {{- end }}
    - name: ops
      port: {{ include "kpr-gateway.opsPort" . }}
      targetPort: ops
      protocol: TCP
{{- end -}}

{{- define "kpr-gateway.serviceAccount" -}}
{{- $v := index .root.Values .service -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
  {{- with $v.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}

{{- define "kpr-gateway.podDisruptionBudget" -}}
{{- $v := index .root.Values .service -}}
{{- if $v.pdb.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
spec:
  {{- if hasKey $v.pdb "minAvailable" }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- end }}
  # A pod that is not ready (a broker or Redis it cannot reach, a crash loop) is evicted
  # whatever the budget, so a node drain never waits on pods that serve nothing.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "kpr-gateway.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{- define "kpr-gateway.horizontalPodAutoscaler" -}}
{{- $v := index .root.Values .service -}}
{{- if $v.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "kpr-gateway.componentName" . }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}
{{- end -}}

{{/* Egress to a list of peers on TCP ports; dict: to, ports. An empty `to` allows any
destination on those ports. */}}
{{- define "kpr-gateway.egressRule" -}}
- ports:
  {{- range .ports }}
    - {port: {{ . }}, protocol: TCP}
  {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Only the flows of DESIGN.md: EPJ -> intake's API; every service -> RabbitMQ and Redis
(the bundled Redis' pods, when redis.bundled); dispatch and receipts -> NHN; envelope,
dispatch and receipts -> the Address Registry and its certificates' CRLs (when configured);
webhooks -> the EPJ systems' webhook hosts; the simulator -> its broker;
all -> DNS and the OTLP collector; the metrics scraper (networkPolicy.metricsFrom) and the
release's `helm test` pod -> every service's ops port, never its API. */}}
{{- define "kpr-gateway.networkPolicy" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $policy := $values.networkPolicy -}}
{{- if $policy.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "kpr-gateway.componentName" . }}
  labels:
    {{- include "kpr-gateway.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "kpr-gateway.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if eq .service "intake" }}
    - ports:
        - {port: http, protocol: TCP}
      {{- with $policy.intakeFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if eq .service "simulator" }}
    # The Address Registry it plays, for this release's services.
    - ports:
        - {port: http, protocol: TCP}
      from:
        - podSelector:
            matchLabels:
              {{- include "kpr-gateway.selectorLabels" (dict "root" $root "service" "") | nindent 14 }}
    {{- end }}
    {{- with $policy.metricsFrom }}
    # /metrics (and the probes' paths) for the scraper.
    - ports:
        - {port: ops, protocol: TCP}
      from:
        {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- if $root.Values.test.enabled }}
    # `helm test`: its pod asks /readyz.
    - ports:
        - {port: ops, protocol: TCP}
      from:
        - podSelector:
            matchLabels:
              {{- include "kpr-gateway.selectorLabels" (dict "root" $root "service" "test") | nindent 14 }}
    {{- end }}
  egress:
    - ports:
      {{- range $policy.dns.ports }}
        - {port: {{ . }}, protocol: UDP}
        - {port: {{ . }}, protocol: TCP}
      {{- end }}
      {{- with $policy.dns.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- if eq .service "simulator" }}
    {{- include "kpr-gateway.egressRule" $values.simulator.amqp.egress | nindent 4 }}
    {{- else }}
    {{- include "kpr-gateway.egressRule" $values.rabbitmq.egress | nindent 4 }}
    {{- include "kpr-gateway.redisEgress" . | nindent 4 }}
    {{- end }}
    {{- if has .service (list "dispatch" "receipts") }}
    {{- include "kpr-gateway.egressRule" $values.nhn.egress | nindent 4 }}
    {{- end }}
    {{- if include "kpr-gateway.usesRegistry" . }}
    {{- include "kpr-gateway.egressRule" $values.addressRegistry.egress | nindent 4 }}
    {{- include "kpr-gateway.egressRule" $values.addressRegistry.crlEgress | nindent 4 }}
    {{- end }}
    {{- if eq .service "webhooks" }}
    {{- include "kpr-gateway.egressRule" $values.webhooks.egress | nindent 4 }}
    {{- end }}
    {{- if $values.tracing.otlp.enabled }}
    {{- include "kpr-gateway.egressRule" $values.tracing.otlp.egress | nindent 4 }}
    {{- end }}
    {{- with $policy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}
