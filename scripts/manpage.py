#!/usr/bin/env python3
"""harden(1) in roff, from the command tree harden itself describes (`--experimental-dump-help`, ArgumentParser's
machine-readable help): every command with its abstract, discussion and options. Usage: manpage.py HARDEN VERSION"""
import json
import subprocess
import sys

harden, version = sys.argv[1], sys.argv[2]
run = subprocess.run([harden, "--experimental-dump-help"], capture_output=True, text=True, check=True)
tree = json.loads(run.stdout or run.stderr)["command"]


def esc(text):
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in out.split("\n"))


def option_line(a):
    names = sorted(a.get("names", []), key=lambda n: n["kind"] != "short")
    flags = ", ".join(("-" if n["kind"] == "short" else "--") + n["name"] for n in names)
    if a["kind"] == "positional":
        flags = "<" + a.get("valueName", "arg") + ">" + ("..." if a.get("isRepeating") else "")
    elif a["kind"] == "option":
        flags += " <" + a.get("valueName", "value") + ">"
    return flags


out = [f'.TH HARDEN 1 "" "harden {esc(version)}" "User Commands"', ".SH NAME", "harden \\- " + esc(tree["abstract"]),
       ".SH SYNOPSIS", ".B harden", "\\fICOMMAND\\fR [\\fIOPTIONS\\fR]", ".SH DESCRIPTION", esc(tree.get("discussion", ""))]
out.append(".SH COMMANDS")
for c in tree.get("subcommands", []):
    if not c.get("shouldDisplay", True) or c["commandName"] == "help":
        continue
    out += [".SS " + esc("harden " + c["commandName"]), esc(c.get("abstract", ""))]
    if c.get("discussion"):
        out += [".PP", esc(c["discussion"])]
    for a in c.get("arguments", []):
        if not a.get("shouldDisplay", True) or a.get("valueName") in ("help", "version"):
            continue
        text = a.get("abstract", "")
        if "defaultValue" in a:
            text += f" (default: {a['defaultValue']})"
        out += [".TP", "\\fB" + esc(option_line(a)) + "\\fR", esc(text)]
    for s in c.get("subcommands", []):
        out += [".TP", "\\fB" + esc("harden " + c["commandName"] + " " + s["commandName"]) + "\\fR", esc(s.get("abstract", ""))]
out += [".SH EXIT STATUS", "0 success, 1 error (one line: harden: INPUT: what is wrong), 2 a gate or a probe failed.",
        ".SH SEE ALSO", "runc(8), umoci(1), skopeo(1)"]
print("\n".join(out))
