# harness/ is a source root of the hallsim namespace package, not a package: import hallsim.harness.
# Without this module, Python started in the repository root would import the folder harness/ as an
# empty namespace (harness.hallsim... a second copy of hallsim.harness). A module, unlike an __init__.py
# inside the folder, leaves harness/ a plain source root that mypy, pyright and import-graph tools
# resolve hallsim.* through.
raise ImportError("harness/ is a source root, not a package: import hallsim.harness")
