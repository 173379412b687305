#!/usr/bin/env python3
"""libssh2 through ssh2-python (PyPI, pinned in scripts/test.sh; its wheels carry libssh2
1.11), for the client conformance tests: what a program built on libssh2 sees from the broker.

Signs in as USER with KEY (`-` for none; `password` sends CODE as a password instead), then answers keyboard-interactive with CODE, and
runs COMMAND, trying only the methods the broker listed first, as curl does.
Prints one JSON object: the libssh2 version, the methods the broker listed first, what the
public key step returned (libssh2 reports the broker's "partial success" as an error), whether
the sign-in completed, and the command's output and exit status.

Usage: libssh2_client.py PORT USER KEY CODE COMMAND
"""

import json
import socket
import sys

from ssh2.error_codes import LIBSSH2_ERROR_EAGAIN
from ssh2.session import Session
from ssh2.utils import version


def main() -> int:
    port, user, key, code, command = sys.argv[1:6]
    out = {"libssh2": version().decode()}
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
    session = Session()
    session.handshake(sock)
    # As curl does: the methods of the broker's first answer, tried in turn, the key first,
    # then keyboard-interactive (answered with CODE, which curl takes from the URL's password).
    methods = session.userauth_list(user)
    out["methods"] = methods
    if key == "password":
        # What the broker must refuse whatever the method list says: the code as a password.
        try:
            session.userauth_password(user, code)
        except Exception as e:
            out["password"] = f"{type(e).__name__}: {session.last_error()}"
    elif "publickey" in methods and key != "-":
        try:
            session.userauth_publickey_fromfile(user, key)
            out["publickey"] = "success"
        except Exception as e:  # libssh2 raises on anything but full success
            out["publickey"] = f"{type(e).__name__}: {session.last_error()}"
    if not session.userauth_authenticated() and "keyboard-interactive" in methods and key != "password":
        try:
            session.userauth_keyboardinteractive(user, code)
        except Exception as e:
            out["keyboard_interactive"] = f"{type(e).__name__}: {session.last_error()}"
    out["authenticated"] = bool(session.userauth_authenticated())
    if out["authenticated"]:
        channel = session.open_session()
        channel.execute(command)
        data = b""
        while True:
            size, chunk = channel.read()
            if size == LIBSSH2_ERROR_EAGAIN:
                continue
            if size <= 0:
                break
            data += chunk
        channel.wait_eof()
        channel.close()
        channel.wait_closed()
        out["stdout"] = data.decode(errors="replace")
        out["exit_status"] = channel.get_exit_status()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
