{{/* Names and labels shared by every object of the chart. */}}
{{- define "crm-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crm-bridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "crm-bridge.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "crm-bridge.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crm-bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "crm-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "crm-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crm-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crm-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "crm-bridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "crm-bridge.secretName" -}}
{{- default (printf "%s-salesforce" (include "crm-bridge.fullname" .)) .Values.salesforceSecret.existingSecret -}}
{{- end -}}

{{- define "crm-bridge.hasSecret" -}}
{{- if or .Values.salesforceSecret.existingSecret .Values.salesforceSecret.privateKey .Values.salesforceSecret.clientSecret -}}true{{- end -}}
{{- end -}}

{{/* The ingest's secrets: the token file, its TLS certificate and the client CA, each mounted as a directory. */}}
{{- define "crm-bridge.ingestDir" -}}/var/run/secrets/crm-bridge-ingest{{- end -}}

{{- define "crm-bridge.ingestEnv" -}}
{{- if and (eq .Values.ingest.auth "required") (not .Values.ingest.tokensSecret) -}}
{{- fail "roles.ingest.enabled with ingest.auth=required needs ingest.tokensSecret: a Secret with key tokens.json (crm-bridge ingest token add, see the README's Security section)" -}}
{{- end -}}
{{- if and .Values.ingest.tls.clientCASecret (not .Values.ingest.tls.secretName) -}}
{{- fail "ingest.tls.clientCASecret (mutual TLS) needs ingest.tls.secretName" -}}
{{- end -}}
{{- if .Values.ingest.tokensSecret }}
- name: BRIDGE_INGEST__TOKENS_FILE
  value: {{ include "crm-bridge.ingestDir" . }}/tokens/tokens.json
{{- end }}
{{- if .Values.ingest.tls.secretName }}
- name: BRIDGE_INGEST__TLS_CERT_FILE
  value: {{ include "crm-bridge.ingestDir" . }}/tls/tls.crt
- name: BRIDGE_INGEST__TLS_KEY_FILE
  value: {{ include "crm-bridge.ingestDir" . }}/tls/tls.key
{{- end }}
{{- if .Values.ingest.tls.clientCASecret }}
- name: BRIDGE_INGEST__TLS_CLIENT_CA_FILE
  value: {{ include "crm-bridge.ingestDir" . }}/client-ca/ca.crt
{{- end }}
{{- end -}}

{{- define "crm-bridge.ingestMounts" -}}
{{- if .Values.ingest.tokensSecret }}
- name: ingest-tokens
  mountPath: {{ include "crm-bridge.ingestDir" . }}/tokens
  readOnly: true
{{- end }}
{{- if .Values.ingest.tls.secretName }}
- name: ingest-tls
  mountPath: {{ include "crm-bridge.ingestDir" . }}/tls
  readOnly: true
{{- end }}
{{- if .Values.ingest.tls.clientCASecret }}
- name: ingest-client-ca
  mountPath: {{ include "crm-bridge.ingestDir" . }}/client-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "crm-bridge.ingestVolumes" -}}
{{- if .Values.ingest.tokensSecret }}
- name: ingest-tokens
  secret:
    secretName: {{ .Values.ingest.tokensSecret }}
    defaultMode: 0400
    items:
      - key: tokens.json
        path: tokens.json
{{- end }}
{{- if .Values.ingest.tls.secretName }}
- name: ingest-tls
  secret:
    secretName: {{ .Values.ingest.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- if .Values.ingest.tls.clientCASecret }}
- name: ingest-client-ca
  secret:
    secretName: {{ .Values.ingest.tls.clientCASecret }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
