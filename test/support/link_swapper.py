"""The hostile application user of the restore-confinement tests.

    python3 link_swapper.py <application directory> <target>

Run as the application user. Every entry a restore makes in the application's directory (staging,
temporary and aside names) is renamed away the moment it appears and replaced by a symbolic link
to <target>. Woken by inotify rather than polling: it reacts within microseconds of each new name
(faster than a shell loop forking mv and ln) and spends no CPU in between. Prints "ready" once it
watches.
"""

import ctypes
import os
import re
import sys

IN_CREATE = 0x100
IN_MOVED_TO = 0x80
MADE_BY_A_RESTORE = re.compile(r"^(\.backup-kit-stage\..*|.*\.partial\..*|.*\.pre-restore-.*)$")


def swap_all(app: str, target: str, swapped: list) -> None:
    for name in os.listdir(app):
        if not MADE_BY_A_RESTORE.match(name) or ".moved-" in name:
            continue
        entry = os.path.join(app, name)
        try:
            if os.path.islink(entry):
                continue
            os.rename(entry, f"{entry}.moved-{len(swapped)}")
            os.symlink(target, entry)
            swapped.append(name)
        except OSError:
            pass  # the restore moved or removed it first


def main() -> None:
    app, target = sys.argv[1], sys.argv[2]
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(0)
    if watch < 0 or libc.inotify_add_watch(watch, os.fsencode(app), IN_CREATE | IN_MOVED_TO) < 0:
        sys.exit(f"inotify failed: {os.strerror(ctypes.get_errno())}")
    swapped: list = []
    swap_all(app, target, swapped)
    print("ready", flush=True)
    while True:
        os.read(watch, 65536)
        swap_all(app, target, swapped)


if __name__ == "__main__":
    main()
