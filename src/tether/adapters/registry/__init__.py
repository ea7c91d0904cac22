"""Registry credentials against the outside world: token providers, login checks, pulls."""
