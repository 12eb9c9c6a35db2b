"""The Dash app (wall, console, terminal), the REST API and authentication."""
