"""Registry credentials as plain data: the RegistryCredential spec and image
references (``spec``), the operator's policy over exec plugins and hosts
(``policy``), and the status a credential reports (``status``)."""
