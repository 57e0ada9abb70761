# cli/ is a source root of the hallsim namespace package, not a package: import hallsim.cli.
# Without this module, Python started in the repository root would import the folder cli/ as an
# empty namespace (cli.hallsim... a second copy of hallsim.cli). A module, unlike an __init__.py
# inside the folder, leaves cli/ a plain source root that mypy, pyright and import-graph tools
# resolve hallsim.* through.
raise ImportError("cli/ is a source root, not a package: import hallsim.cli")
