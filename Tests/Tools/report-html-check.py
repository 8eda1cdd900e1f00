#!/usr/bin/env python3
"""Checks report.html as Chromium rendered it against report.json.
Usage: report-html-check.py REPORT_DIR DOM_FILE SCREENSHOT_PNG
DOM_FILE is `chromium --headless --dump-dom` of report.html; SCREENSHOT_PNG its `--screenshot`.
Prints every mismatch and exits 1 when there is one."""
import json, struct, sys
from html.parser import HTMLParser


class DOM(HTMLParser):
    """Collects data-metric values, the text of data-testid elements and the removed-files groups."""

    def __init__(self):
        super().__init__()
        self.metrics, self.texts, self.groups, self.kept, self.stack = {}, {}, {}, {}, []
        self.scripts = 0
        self.external = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in a and a[key] and (a[key].startswith("http") or a[key].startswith("//")):
                self.external.append(a[key])
        if "data-metric" in a:
            self.metrics[a["data-metric"]] = {"value": int(a["data-value"]), "text": ""}
            self.stack.append(("metric", a["data-metric"], tag))
        elif "data-testid" in a:
            if a["data-testid"] == "removed-files":
                self.groups[a["data-reason"]] = int(a["data-count"])
            if a["data-testid"] == "kept-files":
                self.kept[a["data-reason"]] = int(a["data-count"])
            self.texts.setdefault(a["data-testid"], "")
            self.stack.append(("text", a["data-testid"], tag))
        else:
            self.stack.append((None, None, tag))

    def handle_endtag(self, tag):
        while self.stack:
            kind, _, t = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for kind, key, _ in self.stack:
            if kind == "metric":
                self.metrics[key]["text"] += data
            elif kind == "text":
                self.texts[key] += data


def main(report_dir, dom_file, png):
    report = json.load(open(f"{report_dir}/report.json"))
    dom = DOM()
    dom.feed(open(dom_file).read())
    problems = []

    def expect(name, shown, wanted):
        if shown == wanted:
            return
        if isinstance(shown, dict) and isinstance(wanted, dict):
            keys = sorted(k for k in set(shown) | set(wanted) if shown.get(k) != wanted.get(k))
            problems.append(f"{name}: " + ", ".join(f"{k}: page shows {shown.get(k)!r}, report.json has {wanted.get(k)!r}" for k in keys))
        else:
            problems.append(f"{name}: page shows {shown!r}, report.json has {wanted!r}")

    inp, out = report["input"], report["output"]
    for metric, before, after in [("size", inp["contentBytes"], out["contentBytes"]), ("files", inp["files"], out["files"]),
                                  ("packages", inp["packages"], out["packages"])]:
        expect(f"{metric}.before", dom.metrics.get(f"{metric}.before", {}).get("value"), before)
        expect(f"{metric}.after", dom.metrics.get(f"{metric}.after", {}).get("value"), after)
    for metric in ("files", "packages"):
        for side in ("before", "after"):
            m = dom.metrics.get(f"{metric}.{side}", {})
            expect(f"{metric}.{side} text", m.get("text", "").strip(), str(m.get("value")))
    vulns = report.get("vulnerabilities")
    if vulns is not None:
        expect("vulnerabilities.before", dom.metrics.get("vulnerabilities.before", {}).get("value"), sum(vulns["before"].values()))
        expect("vulnerabilities.after", dom.metrics.get("vulnerabilities.after", {}).get("value"), sum(vulns["after"].values()))
        for sev, n in vulns["before"].items():
            expect(f"vulnerabilities.{sev}.before", dom.metrics.get(f"vulnerabilities.{sev}.before", {}).get("value"), n)
        expect("removed vulnerabilities", dom.texts.get("removed-vulnerabilities-count"), str(len(vulns["removed"])))
    failed_checks = sum(1 for c in report["checks"] if c["status"] == "fail")
    expect("failed checks", dom.texts.get("failed-checks-count"), str(failed_checks))
    expect("failed-checks.after", dom.metrics.get("failed-checks.after", {}).get("value"), failed_checks)
    expect("failed-checks.before", dom.metrics.get("failed-checks.before", {}).get("value"), sum(report["checksFailedBefore"].values()))
    expect("verdict", dom.texts.get("verdict", "").strip(), report["verdict"].upper())
    policy = report.get("policy")
    expect("policy verdict", dom.texts.get("policy-verdict", "").strip(),
           "no policy given" if policy is None else ("passed" if policy["passed"] else "violated"))
    minify = report["minify"]
    expect("removed files", dom.texts.get("removed-files-count"), str(len(minify["removed"])))
    groups = {}
    for f in minify["removed"]:
        groups[f["reason"]] = groups.get(f["reason"], 0) + 1
    expect("removed files by reason", dom.groups, groups)
    expect("kept files", dom.texts.get("kept-files-count"), str(len(minify["kept"])))
    expect("kept files in groups", sum(dom.kept.values()), len(minify["kept"]))
    expect("verification", dom.texts.get("verification", "").strip(), "passed" if minify["verification"]["passed"] else "FAILED")
    expect("input reference", dom.texts.get("input-ref"), inp["reference"])
    if dom.scripts or dom.external:
        problems.append(f"the page is not self-contained: {dom.scripts} scripts, external {dom.external}")

    # The screenshot: a PNG of the requested width with a page drawn on it.
    data = open(png, "rb").read()
    head = data[:32]
    if len(data) < 20000:
        problems.append(f"the screenshot has only {len(data)} bytes: a blank page?")
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        problems.append("the screenshot is not a PNG")
    else:
        width, height = struct.unpack(">II", head[16:24])
        if width != 1280 or height < 600:
            problems.append(f"screenshot is {width}x{height}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
