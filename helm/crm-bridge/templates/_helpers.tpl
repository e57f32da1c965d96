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
