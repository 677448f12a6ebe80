"""Model Analyzer style YAML configs as pytest suites: config.py reads one into the tests it
declares (a search per profiled model); the plugin's yaml_items.py collects them."""
