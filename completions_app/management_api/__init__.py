"""The management and finance REST API under /api/v1/ (DRF): providers, provider keys,
models and prices, teams, client keys, cost records and summaries.

Thin interfaces: parse (serializers), check (Django permissions), call the services,
render. Every write is one transaction and leaves an admin LogEntry (audit.py).
"""
