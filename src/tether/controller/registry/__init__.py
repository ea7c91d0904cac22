"""Registry credentials in the cluster: the reconciler that keeps pull Secrets
fresh, its passes and writes, the status it reports, the operator policy it
obeys, and the API the CLI and UI use."""
