"""The API's routes, one module per concern. Each module's ``routes(service)`` returns a
Powertools ``Router`` whose every route calls one use case of ``service``; a function includes
the routers it serves (functions/*/app.py), and its resolver (``http.create_resolver``) maps
every error to HTTP in one place."""
