"""Built-in AI evaluators: each module is a plugin on ``register_evaluators``."""
