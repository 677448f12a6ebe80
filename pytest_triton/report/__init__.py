"""Reports of a session, each rendered from the same TestEntry list (outcome.py) so none can
disagree with pytest: terminal, JSON, Markdown, HTML. A new format is a module with a render
function, named in files.py's renderers, with a --triton-report-<kind> option (plugin/options.py)
that plugin/hooks.py passes on at session end."""
