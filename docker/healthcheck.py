"""The image's HEALTHCHECK: exit 0 when the app answers its health endpoint, 1 otherwise.

It asks the port and address the entrypoint gave the app (IMP_LAB_PORT, IMP_LAB_ADDRESS), so
the check stays right when an operator moves the app off 8501 (or, with host networking, must).
"""

import os
import sys
import urllib.request

ANY = ("", "0.0.0.0", "::")


def url() -> str:
    address = os.environ.get("IMP_LAB_ADDRESS", "")
    host = "127.0.0.1" if address in ANY else address
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return f"http://{host}:{os.environ.get('IMP_LAB_PORT', '8501')}/_stcore/health"


def main() -> int:
    try:
        with urllib.request.urlopen(url(), timeout=4) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as e:
        print(f"{url()}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
