"""The pytest11 entry point: registers the plugin's hook modules."""
