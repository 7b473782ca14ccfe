"""The HTTP surface: app factory, routes, middlewares, problem+json and OpenAPI."""
