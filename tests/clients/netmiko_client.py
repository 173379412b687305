"""A network engineer's netmiko (PyPI) script against Portcullis: netmiko over paramiko.

Signs in with the Ed25519 key (use_keys, key_file, no password, no agent); after the key's
partial success paramiko asks for the TOTP code on the terminal (keyboard-interactive),
which this driver answers from its standard input, as a person would type it. netmiko's
own messages and paramiko's prompt go to stderr, so stdout holds only JSON lines.

Then finds the prompt (find_prompt, set_base_prompt) and sends each --command with
send_command, which waits for the prompt to come back. Prints {"step": "prompt", ...} and
one {"step": "command", ...} per command; --sftp-put uploads over SFTP on the same connection
(netmiko's paramiko client), --file-put tries netmiko's file_transfer. On failure {"step": ..., "error": ...} and exit 1.
Every wait is bounded by --timeout, and the run by a watchdog. --password passes a password
too, which must be refused (hostile).
"""

import argparse
import contextlib
import json
import os
import signal
import sys

import netmiko
import paramiko


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True, help="VENDOR for the lobby, VENDOR:DEVICE for a device")
    p.add_argument("--key", required=True, help="the vendor's Ed25519 private key (OpenSSH format)")
    p.add_argument("--device-type", default="generic", help="netmiko's driver")
    p.add_argument("--timeout", type=int, default=20, help="seconds for each wait")
    p.add_argument("--command", action="append", default=[])
    p.add_argument("--sftp-put", nargs=2, metavar=("LOCAL", "REMOTE"), help="upload over SFTP on netmiko's own paramiko connection")
    p.add_argument("--file-put", nargs=2, metavar=("LOCAL", "REMOTE_DIR"), help="netmiko's file_transfer (put) of LOCAL into REMOTE_DIR")
    p.add_argument("--password", help="hostile: a password (the broker refuses every password)")
    p.add_argument("--session-log", help="netmiko writes everything the channel carried here")
    args = p.parse_args()

    def expired(_signum, _frame):
        emit("watchdog", error=f"the run took longer than {8 * args.timeout} s")
        os._exit(3)

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(8 * args.timeout)
    emit("version", netmiko=netmiko.__version__, paramiko=paramiko.__version__)
    step = "connect"
    try:
        with contextlib.redirect_stdout(sys.stderr):
            conn = netmiko.ConnectHandler(
                device_type=args.device_type,
                host="127.0.0.1",
                port=args.port,
                username=args.user,
                password=args.password,
                use_keys=True,
                key_file=args.key,
                allow_agent=False,
                conn_timeout=args.timeout,
                auth_timeout=args.timeout,
                banner_timeout=args.timeout,
                session_log=args.session_log,
            )
        step = "prompt"
        prompt = conn.find_prompt()
        base = conn.set_base_prompt()
        emit("prompt", prompt=prompt, base_prompt=base)
        for command in args.command:
            step = "command"
            output = conn.send_command(command, read_timeout=args.timeout)
            emit("command", command=command, output=output)
        if args.sftp_put:
            step = "sftp"
            local, remote = args.sftp_put
            sftp = conn.remote_conn_pre.open_sftp()
            sftp.get_channel().settimeout(args.timeout)
            sftp.put(local, remote)
            sftp.close()
            emit("sftp", uploaded=remote)
        if args.file_put:
            step = "file_transfer"
            local, remote_dir = args.file_put
            name = os.path.basename(local)
            with contextlib.redirect_stdout(sys.stderr):
                result = netmiko.file_transfer(conn, source_file=local, dest_file=name, file_system=remote_dir, direction="put", overwrite_file=True)
            emit("file_transfer", result=result)
        step = "disconnect"
        conn.disconnect()
    except Exception as e:  # netmiko raises many kinds; each is reported the same way
        emit(step, error=f"{type(e).__name__}: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
