"""The second wall: on Linux, a CLI run can move itself into a new user + network namespace with only loopback
up (unshare(2) with CLONE_NEWUSER | CLONE_NEWNET, as `unshare -rn` does), before it starts the Hall, the sink,
the stubs or the Node host. Inside, there is no route off the machine for anything: TCP, UDP, DNS queries,
child programs (`curl`), native addons. Loopback inside is a fresh one: only what the run itself starts
listens there, so even a loopback port of the machine (another service, a canary) is out of reach.

It needs unprivileged user namespaces (kernel.unprivileged_userns_clone / user.max_user_namespaces) and a
process with one thread (the kernel refuses CLONE_NEWUSER in a multi-threaded process): the CLI calls
`enter_namespace()` first thing. Elsewhere (macOS, Windows, a container that forbids it) only the in-process
guard is in force, and every trace says so."""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
from typing import Literal

NamespaceSetting = Literal["auto", "on", "off"]
#: `auto`: enter one when the OS allows it, else carry on with the in-process guard alone
DEFAULT: NamespaceSetting = "auto"

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

_inside = False
_why_not: str | None = None


class NamespaceError(Exception):
    """`on` was asked for and the namespace cannot be made."""


def inside_namespace() -> bool:
    """Whether this process moved itself into a loopback-only network namespace."""
    return _inside


def why_not() -> str | None:
    """Why the last attempt did not enter a namespace (None if it did, or none was tried)."""
    return _why_not


def enter_namespace(setting: NamespaceSetting = DEFAULT) -> bool:
    """Move this process into a new user + network namespace with loopback up; True when it is inside one.
    `off`: never; `auto`: when possible; `on`: NamespaceError when it cannot."""
    global _inside, _why_not
    if _inside:
        return True
    if setting == "off":
        _why_not = "turned off (--netns off)"
        return False
    problem = _attempt()
    if problem is None:
        _inside, _why_not = True, None
        return True
    _why_not = problem
    if setting == "on":
        raise NamespaceError(f"--netns on: cannot make a network namespace: {problem}")
    return False


def _attempt() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux only (this is {sys.platform})"
    if threading.active_count() > 1:
        return "the process already runs threads (unshare(CLONE_NEWUSER) needs a single-threaded process)"
    uid, gid = os.getuid(), os.getgid()
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    try:
        if unshare is not None:
            unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
        else:
            import ctypes  # Python 3.11: no os.unshare

            # CDLL(None) is dlopen(NULL): dlopen(3), a lookup "in the main program, followed by all shared
            # objects loaded at program startup", libc among them (ctypes.util.find_library runs ldconfig)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, os.strerror(errno))
    except OSError as err:
        return f"unshare(CLONE_NEWUSER | CLONE_NEWNET) failed: {err.strerror or err}"
    try:
        # user_namespaces(7): map our own ids, so files we create keep their owner
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
        _loopback_up()
    except OSError as err:
        # already inside a namespace with no usable loopback: nothing can be reached at all, so stop here
        raise NamespaceError(f"entered a network namespace but could not bring loopback up: {err}") from None
    return None


def _loopback_up() -> None:
    import fcntl  # POSIX only: imported here so the module loads on Windows

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | _IFF_UP))
