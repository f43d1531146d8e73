"""Built-in sub-commands; each module exposes a click ``command`` added by the builtin_commands plugin."""
