"""Built-in plugins: each module here is registered through the same hooks as third-party plugins."""
