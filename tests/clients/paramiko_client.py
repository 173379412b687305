"""A vendor's Python tool signing in to Portcullis with paramiko (PyPI), step by step.

Signs in the way the broker asks: the Ed25519 key first (partial success), then the TOTP
code through keyboard-interactive. paramiko asks for the "ssh-userauth" service again before
each method, so the second step only goes on if the server answers that repeated request.
Then runs the steps named on the command line, in this order, on the one connection: an
exec, a shell on a pty, an SFTP upload and download, a direct-tcpip tunnel.

Prints one JSON object a line, one per step ({"step": ..., ...}); a step that fails prints
{"step": ..., "error": ...} and the driver exits 1. Every wait is bounded by --timeout, and
the whole run by a watchdog, so a server that never answers fails the run in time instead
of hanging it.

Hostile modes: --skip-key goes straight to keyboard-interactive with the code, --password
offers the code as a password; both must be refused.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import sys
import time

import paramiko


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def fail(step, message):
    emit(step, error=message)
    sys.exit(1)


def watchdog(seconds):
    def expired(_signum, _frame):
        emit("watchdog", error=f"the run took longer than {seconds} s")
        os._exit(3)

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def connect(args):
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    transport = paramiko.Transport(sock)
    # Bounds the wait for each authentication answer (paramiko's default is 30 s).
    transport.auth_timeout = args.timeout
    transport.banner_timeout = args.timeout
    transport.start_client(timeout=args.timeout)
    return transport


def sign_in(transport, args):
    prompts = []

    def answer(_title, _instructions, prompt_list):
        prompts.extend(p for p, _echo in prompt_list)
        return [args.code for _ in prompt_list]

    if args.password:
        try:
            transport.auth_password(args.user, args.code)
        except paramiko.AuthenticationException as e:
            fail("auth", f"password refused: {type(e).__name__}: {e}")
        emit("auth", authenticated=transport.is_authenticated(), method="password")
        return
    remaining = []
    if not args.skip_key:
        key = paramiko.Ed25519Key.from_private_key_file(args.key)
        try:
            remaining = transport.auth_publickey(args.user, key)
        except paramiko.AuthenticationException as e:
            fail("auth", f"key refused: {type(e).__name__}: {e}")
        if transport.is_authenticated():
            fail("auth", "signed in with the key alone; the code was never asked for")
    started = time.monotonic()
    try:
        remaining = transport.auth_interactive(args.user, answer)
    except paramiko.AuthenticationException as e:
        waited = time.monotonic() - started
        if "timeout" in str(e).lower():
            fail("auth", f"timed out: keyboard-interactive got no answer within {args.timeout} s "
                 f"(did the server answer the repeated ssh-userauth service request?): "
                 f"{type(e).__name__}: {e}")
        fail("auth", f"code refused after {waited:.1f} s: {type(e).__name__}: {e}")
    emit("auth", authenticated=transport.is_authenticated(), prompts=prompts, remaining=remaining)
    if not transport.is_authenticated():
        fail("auth", "not signed in after the code")


def read_all(channel, timeout):
    """stdout and stderr of a channel until its end, with the exit status."""
    channel.settimeout(timeout)
    out, err = b"", b""
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        out += chunk
    while True:
        chunk = channel.recv_stderr(65536)
        if not chunk:
            break
        err += chunk
    return out, err, channel.recv_exit_status()


def run_exec(transport, args):
    channel = transport.open_session(timeout=args.timeout)
    channel.exec_command(args.exec)
    out, err, status = read_all(channel, args.timeout)
    emit("exec", stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"), status=status)


def run_pty(transport, args):
    channel = transport.open_session(timeout=args.timeout)
    channel.get_pty(term="dumb", width=120, height=40)
    channel.invoke_shell()
    channel.settimeout(args.timeout)
    # The marker's echo differs from its output, so seeing it means the command ran.
    channel.sendall(args.pty.encode() + b"; echo __pty_$((40+2))__\n")
    seen = b""
    deadline = time.monotonic() + args.timeout
    while b"__pty_42__" not in seen:
        if time.monotonic() > deadline:
            fail("pty", f"no marker within {args.timeout} s: {seen!r}")
        chunk = channel.recv(65536)
        if not chunk:
            fail("pty", f"the shell closed before the marker: {seen!r}")
        seen += chunk
    channel.sendall(b"exit\n")
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        seen += chunk
    emit("pty", output=seen.decode(errors="replace"), status=channel.recv_exit_status())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_sftp(transport, args):
    local, remote, back = args.sftp
    sftp = paramiko.SFTPClient.from_transport(transport)
    sftp.get_channel().settimeout(args.timeout)
    sftp.put(local, remote)
    sftp.get(remote, back)
    sftp.close()
    emit("sftp", sent=sha256(local), received=sha256(back))


def run_tunnel(transport, args):
    host, port, data_file = args.tunnel
    with open(data_file, "rb") as f:
        data = f.read()
    channel = transport.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 0), timeout=args.timeout)
    channel.settimeout(args.timeout)
    channel.sendall(data)
    channel.shutdown_write()
    back = b""
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        back += chunk
    channel.close()
    emit("tunnel", sent=hashlib.sha256(data).hexdigest(), received=hashlib.sha256(back).hexdigest(), bytes=len(back))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True, help="VENDOR for the lobby, VENDOR:DEVICE for a device")
    p.add_argument("--key", required=True, help="the vendor's Ed25519 private key (OpenSSH format)")
    p.add_argument("--code", required=True, help="the TOTP code to answer")
    p.add_argument("--timeout", type=int, default=20, help="seconds for each wait")
    p.add_argument("--skip-key", action="store_true", help="hostile: keyboard-interactive without the key")
    p.add_argument("--password", action="store_true", help="hostile: the code as a password")
    p.add_argument("--exec", metavar="COMMAND")
    p.add_argument("--pty", metavar="COMMAND", help="run COMMAND in a shell on a pty")
    p.add_argument("--sftp", nargs=3, metavar=("LOCAL", "REMOTE", "BACK"), help="upload LOCAL to REMOTE, download it to BACK")
    p.add_argument("--tunnel", nargs=3, metavar=("HOST", "PORT", "FILE"), help="send FILE through a direct-tcpip channel, read the answer")
    args = p.parse_args()
    watchdog(6 * args.timeout)
    emit("version", paramiko=paramiko.__version__)
    step = "connect"
    try:
        transport = connect(args)
        step = "auth"
        sign_in(transport, args)
        for step, run in (("exec", run_exec), ("pty", run_pty), ("sftp", run_sftp), ("tunnel", run_tunnel)):
            if getattr(args, step) is not None:
                run(transport, args)
        transport.close()
    except (paramiko.SSHException, OSError, EOFError) as e:
        fail(step, f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
