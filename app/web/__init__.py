"""The web page: static HTML and JavaScript served by the API server, drawing from the
JSON API (no template engine, no front-end server, nothing fetched from a CDN)."""
