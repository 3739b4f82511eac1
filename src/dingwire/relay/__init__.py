"""The relay (``dingwire serve``): intake -> templates -> outbox -> dispatcher -> digests.

Alertmanager and Grafana webhooks (and plain messages) come in over HTTP, are rendered into
DingTalk messages, stored durably in an outbox and delivered by a dispatcher within every
robot's minute budget and its organisation's quota, merging a backlog into digests.

Needs the ``relay`` extra (``pip install dingwire[relay]``); nothing here is imported by
``import dingwire``.
"""
