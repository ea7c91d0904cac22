"""Git hosts' REST APIs (GitHub, Gitea): pull requests for image updates."""
