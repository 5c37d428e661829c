{{/* Names, labels and the wiring shared by every template. */}}

{{- define "joust.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "joust.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "joust.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "joust.labels" -}}
helm.sh/chart: {{ include "joust.chart" . }}
app.kubernetes.io/name: {{ include "joust.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: joust
{{- end -}}

{{/* Selector labels of one role: (dict "ctx" $ "role" "node"). */}}
{{- define "joust.selectorLabels" -}}
app.kubernetes.io/name: {{ include "joust.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "joust.roleLabels" -}}
{{ include "joust.labels" .ctx }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "joust.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "joust.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "joust.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The dev-only Secret the chart creates (devSecret.create). */}}
{{- define "joust.devSecretName" -}}
{{- printf "%s-dev" (include "joust.fullname" .) -}}
{{- end -}}

{{/* Secret holding the database URL, or "" (SQLite on an emptyDir). */}}
{{- define "joust.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if and .Values.devSecret.create .Values.devSecret.databaseUrl -}}
{{- include "joust.devSecretName" . -}}
{{- end -}}
{{- end -}}

{{- define "joust.databaseSecretKey" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.secretKey }}{{- else -}}database-url{{- end -}}
{{- end -}}

{{/* Secret holding the S3 access key pair, or "" (no static credentials). */}}
{{- define "joust.s3Secret" -}}
{{- if .Values.s3.existingSecret -}}
{{- .Values.s3.existingSecret -}}
{{- else if and .Values.devSecret.create .Values.devSecret.s3AccessKeyId -}}
{{- include "joust.devSecretName" . -}}
{{- end -}}
{{- end -}}

{{/* The registry's blob store URL. */}}
{{- define "joust.blobsUrl" -}}
{{- if .Values.s3.bucket -}}
{{- $prefix := trimAll "/" .Values.s3.prefix -}}
{{- if $prefix -}}s3://{{ .Values.s3.bucket }}/{{ $prefix }}{{- else -}}s3://{{ .Values.s3.bucket }}{{- end -}}
{{- else -}}
file:///data/blobs
{{- end -}}
{{- end -}}

{{/* In-cluster addresses (https:// when the roles serve TLS). */}}
{{- define "joust.registryUrl" -}}
{{- $scheme := ternary "https" "http" (ne .Values.security.tls.existingSecret "") -}}
{{- printf "%s://%s-registry.%s.svc.%s:%d" $scheme (include "joust.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.registry.port) -}}
{{- end -}}

{{/* The router Service (detection scores through it). */}}
{{- define "joust.routerUrl" -}}
{{- $scheme := ternary "https" "http" (ne .Values.security.tls.existingSecret "") -}}
{{- printf "%s://%s-router.%s.svc.%s:%d" $scheme (include "joust.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.router.port) -}}
{{- end -}}

{{/* The headless Service name: one DNS A record per ready node pod. */}}
{{- define "joust.nodesDns" -}}
{{- printf "%s-node-headless.%s.svc.%s:%d" (include "joust.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.node.port) -}}
{{- end -}}

{{/* Pod-level security context shared by every role. */}}
{{- define "joust.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "joust.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* grpc.health.v1 probe: (dict "port" 7071 "probe" .Values.node.probes.readiness
     "tls" bool). Kubernetes gRPC probes cannot speak TLS: with TLS on, a TCP probe. */}}
{{- define "joust.grpcProbe" -}}
{{- if .tls }}
tcpSocket:
  port: {{ .port }}
{{- else }}
grpc:
  port: {{ .port }}
  {{- if .probe.service }}
  service: {{ .probe.service | quote }}
  {{- end }}
{{- end }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* Scheduling and pod extras of one role's values. */}}
{{- define "joust.podExtras" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}


{{/* Security flags of every role: TLS files, authentication, the service
     token (files mounted by joust.securityVolumeMounts). */}}
{{- define "joust.securityArgs" -}}
{{- $s := .Values.security -}}
{{- if $s.tls.existingSecret }}
- --tls-cert=/etc/joust/tls/tls.crt
- --tls-key=/etc/joust/tls/tls.key
- --tls-ca=/etc/joust/tls/ca.crt
{{- if $s.tls.mutual }}
- --tls-client-ca=/etc/joust/tls/ca.crt
{{- end }}
{{- end }}
{{- if $s.auth.tokensSecret }}
- --auth-tokens-file=/etc/joust/auth/tokens
{{- end }}
{{- if $s.auth.jwt.existingSecret }}
{{- if eq $s.auth.jwt.algorithm "HS256" }}
- --auth-jwt-secret-file=/etc/joust/jwt/key
{{- else }}
- --auth-jwt-public-key-file=/etc/joust/jwt/key
{{- end }}
- --auth-jwt-issuer={{ required "security.auth.jwt.issuer is required with a JWT key" $s.auth.jwt.issuer }}
- --auth-jwt-audience={{ required "security.auth.jwt.audience is required with a JWT key" $s.auth.jwt.audience }}
- --auth-jwt-roles-claim={{ $s.auth.jwt.rolesClaim }}
{{- end }}
{{- if $s.auth.serviceTokenSecret }}
- --token-file=/etc/joust/token/token
{{- end }}
{{- end -}}

{{- define "joust.securityVolumeMounts" -}}
{{- $s := .Values.security -}}
{{- if $s.tls.existingSecret }}
- name: tls
  mountPath: /etc/joust/tls
  readOnly: true
{{- end }}
{{- if $s.auth.tokensSecret }}
- name: auth-tokens
  mountPath: /etc/joust/auth
  readOnly: true
{{- end }}
{{- if $s.auth.jwt.existingSecret }}
- name: jwt-key
  mountPath: /etc/joust/jwt
  readOnly: true
{{- end }}
{{- if $s.auth.serviceTokenSecret }}
- name: service-token
  mountPath: /etc/joust/token
  readOnly: true
{{- end }}
{{- end -}}

{{- define "joust.securityVolumes" -}}
{{- $s := .Values.security -}}
{{- if $s.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ $s.tls.existingSecret }}
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- if $s.auth.tokensSecret }}
- name: auth-tokens
  secret:
    secretName: {{ $s.auth.tokensSecret }}
    items:
      - {key: {{ $s.auth.tokensKey }}, path: tokens}
{{- end }}
{{- if $s.auth.jwt.existingSecret }}
- name: jwt-key
  secret:
    secretName: {{ $s.auth.jwt.existingSecret }}
    items:
      - {key: {{ $s.auth.jwt.key }}, path: key}
{{- end }}
{{- if $s.auth.serviceTokenSecret }}
- name: service-token
  secret:
    secretName: {{ $s.auth.serviceTokenSecret }}
    items:
      - {key: {{ $s.auth.serviceTokenKey }}, path: token}
{{- end }}
{{- end -}}
