{{- define "finance-app.labels" -}}
app.kubernetes.io/name: finance-api
app.kubernetes.io/part-of: finance-app
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
