"""The source step: from an Application's source to rendered objects.

``step`` resolves, reads and renders (``Sources``); Git, Helm charts and OCI
artifacts each have their module (``chart``, ``artifact``, ``multi`` for apps
with several sources); ``pools`` and ``gate`` run the blocking work in bounded
threads, one Git call per repository at a time; ``memo`` keeps each app's last
render to reuse when the new commit does not touch it.
"""
