// Gives every library target at least one source while its directory is being filled.
