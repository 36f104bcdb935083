"""The functions' container images built without Docker: each Dockerfile's steps run with the base
image's Python and Lambda's wheels in a scratch root, and each handler invoked from its task root."""
