"""Running FaceMatch on a laptop (``make run``): the local API gateway, a worker process per
function, embedded AWS services, and the OpenAPI generator. Never part of an image."""
