"""What the gateway tells operators about requests as they happen: JSON logs, Prometheus
metrics and OpenTelemetry spans. Not the operator's controls (see `gateway.ops`).
"""
