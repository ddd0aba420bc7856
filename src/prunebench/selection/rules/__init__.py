"""Selection rules, one module each (registered with :func:`prunebench.selection.registry.register_rule`)."""
