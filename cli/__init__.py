# cli/ is a source root of the hallsim namespace package, not a package: import hallsim.cli instead.
# (Without this file, Python run from the repository root would import this folder as an empty namespace.)
raise ImportError("cli/ is a source root, not a package: import hallsim.cli")
