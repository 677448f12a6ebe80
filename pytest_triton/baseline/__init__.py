"""Baselines stored in the user's repository: files (store.py, codec.py), which environment
and model they belong to (fingerprint.py, model_identity.py), the gate's policy per mode
(gate.py), averaging over sessions (history.py), checkpoints and resume (checkpoint.py), the
paired baseline build (build.py), and the session that ties them together (session.py)."""
