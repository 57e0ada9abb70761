# emulator/ is a source root of the hallsim namespace package, not a package: import hallsim.emulator instead.
# (Without this file, Python run from the repository root would import this folder as an empty namespace.)
raise ImportError("emulator/ is a source root, not a package: import hallsim.emulator")
