"""Running FaceMatch on a laptop: the local API gateway, embedded AWS services and the CLI."""
