"""The Triton server of a session: local (local.py), docker (docker.py, reaper.py) or remote
(remote.py) behind one interface (base.py), watched while it loads models (watch.py), and its
models loaded and unloaded through the HTTP API (models.py)."""
