#!/usr/bin/env python3
"""AsyncSSH (PyPI, pinned in scripts/test.sh) as a vendor's automation script would use it,
for the client conformance tests. Signs in with the key, answers the keyboard-interactive
code prompt, checks the broker's host key against KNOWN_HOSTS, and does one thing:

  exec COMMAND          runs COMMAND; prints {"stdout", "exit_status"}
  pty                   runs `tty` on a terminal; prints {"stdout", "exit_status"}
  put LOCAL REMOTE      uploads over SFTP, downloads it back to LOCAL.back; prints {"ok"}
  tunnel HOST PORT FILE sends FILE through a direct-tcpip channel; writes the answer to
                        FILE.back; prints {"bytes"}

Usage: asyncssh_client.py PORT USER KEY KNOWN_HOSTS CODE ACTION ARGS...
"""

import asyncio
import json
import sys

import asyncssh


class CodeClient(asyncssh.SSHClient):
    """Answers the broker's one prompt (the verification code) with CODE."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.prompts = []

    def kbdint_auth_requested(self) -> str:
        return ""

    def kbdint_challenge_received(self, name, instructions, lang, prompts):
        self.prompts.extend(p for p, _echo in prompts)
        return [self.code for _ in prompts]


async def run(port, user, key, known_hosts, code, action, args):
    conn, client = await asyncssh.create_connection(
        lambda: CodeClient(code), "127.0.0.1", int(port), username=user,
        client_keys=[key], known_hosts=known_hosts, agent_path=None,
        preferred_auth=("publickey", "keyboard-interactive"), password=None,
    )
    out = {"prompts": None}
    async with conn:
        if action == "exec":
            r = await conn.run(args[0], check=False)
            out["exec"] = {"stdout": r.stdout, "exit_status": r.exit_status}
        if action == "pty":
            r = await conn.run("tty", term_type="xterm", request_pty="force", check=False)
            out["pty"] = {"stdout": r.stdout, "exit_status": r.exit_status}
        if action == "put":
            local, remote = args[-2], args[-1]
            async with conn.start_sftp_client() as sftp:
                await sftp.put(local, remote)
                await sftp.get(remote, local + ".back")
            out["put"] = {"ok": True}
        if action == "tunnel":
            host, tport, path = args[0], int(args[1]), args[2]
            data = open(path, "rb").read()
            reader, writer = await conn.open_connection(host, tport)
            writer.write(data)
            writer.write_eof()
            back = await reader.read()
            writer.close()
            open(path + ".back", "wb").write(back)
            out["tunnel"] = {"bytes": len(back)}
    out["prompts"] = client.prompts
    print(json.dumps(out))


def main() -> int:
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    port, user, key, known_hosts, code, action, *args = sys.argv[1:]
    asyncio.run(asyncio.wait_for(run(port, user, key, known_hosts, code, action, args), 80))
    return 0


if __name__ == "__main__":
    sys.exit(main())
