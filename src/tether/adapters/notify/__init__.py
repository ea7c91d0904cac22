"""Notification sinks: HTTP deliveries to webhooks and chat incoming-webhooks."""
