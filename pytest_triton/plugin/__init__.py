"""The pytest side: options, markers, fixtures and hooks that turn a pytest session into core
calls. Only this package imports pytest; plugin.py is the entry point, hookspecs.py the hooks
other plugins implement."""
