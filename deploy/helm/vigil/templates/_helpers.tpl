{{- define "vigil.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vigil.labels" -}}
app.kubernetes.io/part-of: vigil
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vigil.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "vigil.gatewayEndpoint" -}}
{{- if .Values.agent.gatewayEndpoint -}}
{{ .Values.agent.gatewayEndpoint }}
{{- else -}}
dns:///{{ include "vigil.fullname" . }}-gateway-headless.{{ .Release.Namespace }}.svc:4317
{{- end -}}
{{- end -}}

{{- define "vigil.gatewayAuditEndpoint" -}}
{{- if .Values.agent.gatewayAuditEndpoint -}}
{{ .Values.agent.gatewayAuditEndpoint }}
{{- else -}}
dns:///{{ include "vigil.fullname" . }}-gateway-headless.{{ .Release.Namespace }}.svc:4319
{{- end -}}
{{- end -}}
