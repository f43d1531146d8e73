"""Built-in judgment importers: each module is a plugin on ``register_importers``."""
