"""Checks .eml files strictly (issue 23): Python's email package with the strict policy, every
header parsed through its header registry (Message-ID, Date, addresses...) and every defect
reported, lines of at most 998 octets ending in CRLF, and Auto-Submitted: auto-generated.
Prints one line per problem and exits 1 if there is any."""
import email.policy
import sys
from email.parser import BytesParser

problems = []
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    for n, line in enumerate(data.split(b"\r\n")[:-1], 1):
        if len(line) > 998:
            problems.append(f"{path}: line {n} is longer than 998 octets")
        if b"\n" in line or b"\r" in line:
            problems.append(f"{path}: line {n} has a bare CR or LF")
    try:
        msg = BytesParser(policy=email.policy.strict).parsebytes(data)
    except Exception as e:  # strict: the first defect raises
        problems.append(f"{path}: {type(e).__name__}: {e}")
        continue
    for part in msg.walk():
        for d in part.defects:
            problems.append(f"{path}: {type(d).__name__}: {d}")
        for name, value in part.items():
            for d in getattr(value, "defects", ()):
                problems.append(f"{path}: header {name}: {type(d).__name__}: {d}")
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        if len(msg.get_all(name, [])) != 1:
            problems.append(f"{path}: {name} must appear exactly once")
    if str(msg.get("Auto-Submitted", "")).strip() != "auto-generated":
        problems.append(f"{path}: no Auto-Submitted: auto-generated")
    if msg["Date"] is not None and msg["Date"].datetime is None:
        problems.append(f"{path}: the Date does not parse")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
