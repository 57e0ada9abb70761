# emulator/ is a source root of the hallsim namespace package, not a package: import hallsim.emulator.
# Without this module, Python started in the repository root would import the folder emulator/ as an
# empty namespace (emulator.hallsim... a second copy of hallsim.emulator). A module, unlike an __init__.py
# inside the folder, leaves emulator/ a plain source root that mypy, pyright and import-graph tools
# resolve hallsim.* through.
raise ImportError("emulator/ is a source root, not a package: import hallsim.emulator")
