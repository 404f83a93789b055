"""The HTTP service (FastAPI): ``create_app(settings)`` builds it, ``main.run`` serves it."""
