#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, as a person at a keyboard would, for the client
conformance tests: clients such as Dropbear's dbclient read the verification code from the
terminal only. Every time the terminal shows PROMPT, the next answer is typed (once each);
after the last answer, INPUT (if given) is typed too. With several prompts, the first answer
goes to the first prompt, the second to the second, and so on (the last prompt takes the rest). Everything the terminal showed goes to
standard output, and the helper exits with the command's exit status (124 on timeout). An
answer is typed once the program has turned the terminal's echo off for its hidden prompt,
and INPUT once it has turned it on again.

Usage: pty_answer.py --prompt TEXT --answer CODE [--prompt TEXT --answer ...] [--input TEXT] [--timeout S] -- COMMAND...
"""

import argparse
import os
import pty
import select
import sys
import termios
import time


def wait_for_echo(fd: int, on: bool) -> None:
    """Waits (up to 5 s) until the terminal's echo is on or off: programs turn it off for a
    hidden prompt and on again after it, and may flush what was typed before either (PuTTY and
    Dropbear do)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if bool(termios.tcgetattr(fd)[3] & termios.ECHO) == on:
            return
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", action="append", required=True)
    parser.add_argument("--answer", action="append", default=[])
    parser.add_argument("--input", default=None)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)

    prompts = [p.encode() for p in args.prompt]
    answers = [a.encode() for a in args.answer]
    seen = b""
    searched = 0
    deadline = time.monotonic() + args.timeout
    out = sys.stdout.buffer
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            out.write(b"\n[pty_answer: timed out]\n")
            out.flush()
            return 124
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        out.write(chunk)
        out.flush()
        seen += chunk
        while answers:
            prompt = prompts[min(len(args.answer) - len(answers), len(prompts) - 1)]
            at = seen.find(prompt, searched)
            if at < 0:
                break
            searched = at + len(prompt)
            answer = answers.pop(0)
            if answer:
                wait_for_echo(fd, on=False)
            os.write(fd, answer + b"\r")
            if not answers and args.input is not None:
                wait_for_echo(fd, on=True)
                os.write(fd, args.input.encode())
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main())
