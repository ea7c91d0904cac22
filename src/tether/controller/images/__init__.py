"""Image automation: ImagePolicies scanned against their registries (``automation``), the
tags a registry lists, cached per repository (``tags``), and the pull requests a policy
opens instead of pushing to its branch (``pullrequests``)."""
