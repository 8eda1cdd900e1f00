// harden — report.html: one self-contained page (no scripts, no network) rendered from report.json's record.
import Foundation
import HardenCore
import HardenMinify
import HardenPackages
import HardenPolicy
import HardenProfile
import HardenVulnDB

public enum HTMLReport {
    static func esc(_ s: String) -> String { s.htmlEscaped }

    static let severities = Severity.descending.map(\.rawValue)

    /// A before/after pair of bars. `metric` names the value in the DOM (`data-metric`), `value` is the raw number.
    static func bars(_ label: String, metric: String, before: Int64, after: Int64, format: (Int64) -> String) -> String
    {
        let top = max(before, after, 1)
        func bar(_ side: String, _ v: Int64) -> String {
            let pct = Double(v) / Double(top) * 100
            return """
                <div class="bar-row"><span class="side">\(side)</span><div class="track"><div class="bar \(side)" style="width:\(String(format: "%.1f", pct))%"></div></div>\
                <span class="num" data-metric="\(metric).\(side)" data-value="\(v)">\(esc(format(v)))</span></div>
                """
        }
        let change =
            before == 0 ? "" : String(format: "%+.1f%%", (Double(after) - Double(before)) / Double(before) * 100)
        return """
            <div class="metric" data-testid="metric-\(metric)"><h3>\(esc(label)) <span class="change">\(change)</span></h3>
            \(bar("before", before))
            \(bar("after", after))
            </div>
            """
    }

    /// Original → patched → hardened, when the run patched first.
    static func patchLine(_ r: RunRecord) -> String {
        guard let p = r.patch, let original = r.original else { return "" }
        let sizes = [original.contentBytes, r.input.contentBytes, r.output?.contentBytes].map {
            $0.map(formatBytes) ?? "-"
        }
        return """
            <p class="patch" data-testid="patch">patch: \(p.packages.count) packages upgraded, \(p.fixed.count) vulnerabilities fixed\
            \(p.noFixAvailable > 0 ? ", \(p.noFixAvailable) without a published fix" : "") · original \(esc(sizes[0])) → patched \(esc(sizes[1])) → \
            hardened \(esc(sizes[2]))\(p.findingsBefore.map { " · findings before the patch: \($0)" } ?? "")</p>
            """
    }

    /// What exercised the app; "start-up only" stands out: nothing but the start was seen.
    static func coverageLine(_ r: RunRecord) -> String {
        guard let p = r.profile else { return "" }
        let startupOnly = p.coverage.hasPrefix("start-up only")
        let probes = p.probes.map { "\($0.kind.rawValue) \($0.spec)" }.joined(separator: ", ")
        return """
            <p class="coverage\(startupOnly ? " why" : "")" data-testid="coverage">coverage: \(esc(p.coverage))\
            \(probes.isEmpty ? "" : " (\(esc(probes)))") · \(String(format: "%.0f", p.packagesTouched * 100)) % of the image's packages touched</p>
            """
    }

    public static func render(_ r: RunRecord) -> String {
        var body =
            header(r) + summaryBars(r) + policySection(r) + vulnerabilitySection(r) + librariesSection(r)
            + checksSection(r)
        if let m = r.minify { body += minifySections(m) + filesSection(m) }
        body += stagesSection(r)
        return page(title: r.input.reference, body: body)
    }

    static func header(_ r: RunRecord) -> String {
        let passed = r.verdict == .passed
        return """
            <header><h1>harden report</h1>
            <p class="images"><code data-testid="input-ref">\(esc(r.input.reference))</code> → <code data-testid="output-ref">\(esc(r.output?.reference ?? "(not written)"))</code></p>
            <p><span class="verdict \(passed ? "ok" : "bad")" data-testid="verdict">\(passed ? "PASSED" : "FAILED")</span>
            \(r.failures.map { "<span class=\"why\">\(esc($0))</span>" }.joined(separator: " "))</p>
            <p class="meta">\(esc(r.tool)) · started \(esc(r.startedAt)) · \(String(format: "%.1f", r.durationSeconds)) s · input \(esc(r.input.manifestDigest))\
            \(r.output.map { " · output \(esc($0.manifestDigest))" } ?? "")\
            \(r.database.map { " · vulnerability database \($0.ageDays.map { String(format: "%.1f days old", $0) } ?? "age unknown")" } ?? " · no vulnerability database")</p>
            \(patchLine(r))\(coverageLine(r))</header>
            <section class="grid">
            """
    }

    static func summaryBars(_ r: RunRecord) -> String {
        var body = ""
        let out = r.output
        body += bars(
            "Size (root file system)", metric: "size", before: r.input.contentBytes,
            after: out?.contentBytes ?? r.input.contentBytes,
            format: formatBytes)
        body += bars(
            "Files", metric: "files", before: Int64(r.input.files), after: Int64(out?.files ?? r.input.files),
            format: { "\($0)" })
        body += bars(
            "Packages", metric: "packages", before: Int64(r.input.packages),
            after: Int64(out?.packages ?? r.input.packages),
            format: { "\($0)" })
        if let v = r.vulnerabilities {
            let b = v.before.values.reduce(0, +), a = v.after.values.reduce(0, +)
            body += bars(
                "Vulnerabilities", metric: "vulnerabilities", before: Int64(b), after: Int64(a), format: { "\($0)" })
        }
        let failedAfter = r.checks.filter { $0.status == .fail }.count
        body += bars(
            "Failed image checks", metric: "failed-checks", before: Int64(r.checksFailedBefore.values.reduce(0, +)),
            after: Int64(failedAfter),
            format: { "\($0)" })
        body += "</section>\n"

        if let v = r.vulnerabilities, v.before.values.reduce(0, +) > 0 {
            body += "<section><h2>Vulnerabilities by severity</h2><div class=\"grid\">"
            for s in severities where (v.before[s] ?? 0) + (v.after[s] ?? 0) > 0 {
                body += bars(
                    s.capitalized, metric: "vulnerabilities.\(s)", before: Int64(v.before[s] ?? 0),
                    after: Int64(v.after[s] ?? 0),
                    format: { "\($0)" })
            }
            body += "</div></section>\n"
        }
        return body
    }

    static func policySection(_ r: RunRecord) -> String {
        var body = ""
        // Policy.
        body += "<section data-testid=\"policy\"><h2>Policy</h2>"
        if let p = r.policy {
            body +=
                "<p><span class=\"verdict \(p.passed ? "ok" : "bad")\" data-testid=\"policy-verdict\">\(p.passed ? "passed" : "violated")</span> \(esc(r.policyFile ?? ""))</p>"
            if !p.violations.isEmpty {
                body +=
                    "<ul data-testid=\"violations\">"
                    + p.violations.map { "<li><code>\(esc($0.rule))</code> \(esc($0.message))</li>" }.joined() + "</ul>"
            }
            if !p.undecided.isEmpty {
                body += "<ul>" + p.undecided.map { "<li>undecided: \(esc($0))</li>" }.joined() + "</ul>"
            }
            if !p.warnings.isEmpty {
                body += "<ul>" + p.warnings.map { "<li>warning: \(esc($0))</li>" }.joined() + "</ul>"
            }
        } else {
            body += "<p data-testid=\"policy-verdict\">no policy given</p>"
        }
        body += "</section>\n"
        return body
    }

    static func vulnerabilitySection(_ r: RunRecord) -> String {
        var body = ""
        if let v = r.vulnerabilities {
            body +=
                "<section><h2>Vulnerabilities removed (<span data-testid=\"removed-vulnerabilities-count\">\(v.removed.count)</span>)</h2>"
            body += vulnTable(v.removed, testid: "removed-vulnerabilities")
            body +=
                "<details><summary>Vulnerabilities remaining (<span data-testid=\"remaining-vulnerabilities-count\">\(v.remaining.count)</span>)</summary>"
            body += vulnTable(v.remaining, testid: "remaining-vulnerabilities") + "</details></section>\n"
        }
        return body
    }

    /// The application's libraries the patch upgraded: where, old → new, what each fixes, verified or reverted (with
    /// the probe that failed and what it printed).
    static func librariesSection(_ r: RunRecord) -> String {
        guard let rows = r.patch?.libraries, !rows.isEmpty else { return "" }
        var body =
            "<section><h2>Libraries upgraded (<span data-testid=\"libraries-count\">\(rows.filter { $0.outcome != "reverted" }.count)</span>)</h2><table data-testid=\"libraries\"><tr><th>Library</th><th>Old</th><th>New</th><th>Where</th><th>Fixes</th><th>Verification</th></tr>"
        for l in rows {
            let outcome = l.outcome ?? "not verified"
            let why =
                l.outcome == "reverted" ? "<br><em>\(esc(l.probe ?? ""))</em><pre>\(esc(l.output ?? ""))</pre>" : ""
            body +=
                "<tr class=\"\(l.outcome == "reverted" ? "fail" : "pass")\" data-testid=\"library-row\"><td>\(esc(l.ecosystem)) \(esc(l.name))</td><td>\(esc(l.from ?? "(new)"))</td><td>\(esc(l.to))</td><td><code>\(esc(l.location))</code></td><td>\(l.fixes.map(esc).joined(separator: " "))</td><td>\(esc(outcome))\(why)</td></tr>"
        }
        return body + "</table></section>\n"
    }

    static func checksSection(_ r: RunRecord) -> String {
        var body = ""
        // Checks.
        let failedChecks = r.checks.filter { $0.status == .fail }
        body +=
            "<section><h2>Image checks of the result (<span data-testid=\"failed-checks-count\">\(failedChecks.count)</span> failed)</h2><table data-testid=\"checks\"><tr><th>Level</th><th>Id</th><th>Status</th><th>Check</th><th>Found</th></tr>"
        for c in r.checks.sorted(by: {
            ($0.status == .fail ? 0 : 1, $1.level, $0.id) < ($1.status == .fail ? 0 : 1, $0.level, $1.id)
        }) {
            body +=
                "<tr class=\"\(c.status.rawValue)\"><td>\(c.level.rawValue)</td><td>\(esc(c.id))</td><td>\(c.status.rawValue)</td><td>\(esc(c.title))</td><td>"
            body +=
                c.findings.prefix(5).map(esc).joined(separator: "<br>")
                + (c.findings.count > 5 ? "<br>… \(c.findings.count - 5) more" : "")
            body += (c.note.map { " <em>\(esc($0))</em>" } ?? "") + "</td></tr>"
        }
        body += "</table></section>\n"
        return body
    }

    static func minifySections(_ m: MinifyReport) -> String {
        var body = ""
        body +=
            "<section><h2>Configuration changes</h2><ul data-testid=\"changes\">"
            + m.changes.map { "<li>\(esc($0))</li>" }.joined()
            + "</ul></section>\n"
        body +=
            "<section><h2>Verification</h2><p data-testid=\"verification\">\(m.verification.ran ? (m.verification.passed ? "passed" : "FAILED") : "not run")</p>"
        body +=
            "<table><tr><th>Probe</th><th>Original</th><th>Hardened</th></tr>"
            + m.verification.probes.map {
                "<tr><td>\(esc($0.probe))</td><td>\(esc($0.before))</td><td>\(esc($0.after))</td></tr>"
            }
            .joined() + "</table>"
        if !m.verification.missingFiles.isEmpty {
            body += "<p>Missing: " + m.verification.missingFiles.map(esc).joined(separator: ", ") + "</p>"
        }
        body += "</section>\n"
        return body
    }

    static func filesSection(_ m: MinifyReport) -> String {
        var body = ""
        // Removed files, grouped by reason, collapsible.
        var byReason: [String: [String]] = [:]
        for f in m.removed { byReason[f.reason, default: []].append(f.path) }
        body +=
            "<section><h2>Files</h2><h3>Removed (<span data-testid=\"removed-files-count\">\(m.removed.count)</span>)</h3>"
        for (reason, paths) in byReason.sorted(by: { $0.value.count > $1.value.count }) {
            body +=
                "<details data-testid=\"removed-files\" data-reason=\"\(esc(reason))\" data-count=\"\(paths.count)\"><summary>\(esc(reason)) — \(paths.count) files</summary><ul class=\"files\">"
            body += paths.sorted().map { "<li>\(esc($0))</li>" }.joined() + "</ul></details>"
        }
        // Kept files, grouped by the kind of reason (the JSON report has each file's full reason).
        var kept: [String: [(String, String)]] = [:]
        for f in m.kept { kept[keptGroup(f.reason), default: []].append((f.path, f.reason)) }
        body += "<h3>Kept (<span data-testid=\"kept-files-count\">\(m.kept.count)</span>)</h3>"
        for (group, items) in kept.sorted(by: { $0.value.count > $1.value.count }) {
            body +=
                "<details data-testid=\"kept-files\" data-reason=\"\(esc(group))\" data-count=\"\(items.count)\"><summary>\(esc(group)) — \(items.count)</summary><ul class=\"files\">"
            body +=
                items.sorted { $0.0 < $1.0 }.map { "<li>\(esc($0.0)) <em>\(esc($0.1))</em></li>" }.joined()
                + "</ul></details>"
        }
        if !m.packagesRemoved.isEmpty {
            body +=
                "<details><summary>Packages removed — \(m.packagesRemoved.count)</summary><ul class=\"files\">"
                + m.packagesRemoved.map { "<li>\(esc($0))</li>" }.joined() + "</ul></details>"
        }
        body += "</section>\n"
        return body
    }

    static func stagesSection(_ r: RunRecord) -> String {
        var body = ""
        body +=
            "<section><h2>Stages</h2><table data-testid=\"stages\"><tr><th>Stage</th><th>Status</th><th>Seconds</th><th>Detail</th></tr>"
            + r.stages.map {
                "<tr><td>\(esc($0.name.rawValue))</td><td>\($0.status)</td><td>\(String(format: "%.2f", $0.seconds))</td><td>\(esc($0.detail ?? ""))</td></tr>"
            }.joined()
            + "</table></section>\n"
        return body
    }

    static func page(title: String, body: String) -> String {
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>harden report — \(esc(title))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:24px 32px;color:#1d232a;background:#f6f7f9}
            header{margin-bottom:16px}h1{margin:0 0 4px;font-size:24px}h2{font-size:18px;margin:24px 0 8px}h3{font-size:14px;margin:0 0 6px}
            code{font:12px ui-monospace,monospace;background:#eceff3;padding:1px 4px;border-radius:3px}
            .meta{color:#5b6570;font-size:12px}.verdict{font-weight:700;padding:3px 10px;border-radius:12px;color:#fff}
            .verdict.ok{background:#1f8a4c}.verdict.bad{background:#c62828}.why{color:#c62828;margin-left:6px}
            section{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:12px 16px;margin:12px 0}
            .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
            .metric{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:10px 12px}.change{color:#5b6570;font-weight:400}
            .bar-row{display:flex;align-items:center;gap:8px;margin:3px 0}.side{width:48px;color:#5b6570;font-size:12px}
            .track{flex:1;background:#eef1f4;border-radius:4px;height:14px}.bar{height:14px;border-radius:4px;min-width:2px}
            .bar.before{background:#9aa7b4}.bar.after{background:#2b7de9}.num{min-width:80px;text-align:right;font-variant-numeric:tabular-nums}
            table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #edf0f3;vertical-align:top}
            tr.fail td:nth-child(3){color:#c62828;font-weight:600}tr.pass td:nth-child(3){color:#1f8a4c}
            .sev-critical{color:#fff;background:#b71c1c;padding:0 6px;border-radius:3px}.sev-high{color:#fff;background:#e65100;padding:0 6px;border-radius:3px}
            .sev-medium{background:#ffca28;padding:0 6px;border-radius:3px}.sev-low,.sev-negligible,.sev-unknown{background:#e0e0e0;padding:0 6px;border-radius:3px}
            details{margin:4px 0}summary{cursor:pointer;font-weight:600}ul.files{font:12px ui-monospace,monospace;max-height:480px;overflow:auto;columns:2}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    static func vulnTable(_ list: [RunRecord.Vulnerability], testid: String) -> String {
        guard !list.isEmpty else { return "<p data-testid=\"\(testid)\">none</p>" }
        // One row per (vulnerability, source package), its binary packages listed together.
        var order: [String] = []
        var groups: [String: [RunRecord.Vulnerability]] = [:]
        for v in list {
            let key = v.group ?? "\(v.id)/\(v.package)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(v)
        }
        return
            "<table data-testid=\"\(testid)\"><tr><th>Severity</th><th>Vulnerability</th><th>Packages</th><th>Version</th><th>Fixed in</th><th>KEV</th><th>EPSS</th><th>Risk</th><th>Package used at run time</th></tr>"
            + order.map { key in
                let g = groups[key]!
                let v = g[0]
                func joined(_ xs: [String]) -> String { esc(Array(Set(xs)).sorted().joined(separator: ", ")) }
                let used =
                    g.contains { $0.packageUsed != nil } ? (g.contains { $0.packageUsed == true } ? "yes" : "no") : "-"
                return
                    "<tr data-group=\"\(esc(key))\"><td><span class=\"sev-\(esc(v.severity))\">\(esc(v.severity))</span></td><td>\(esc(v.id))</td><td>\(joined(g.map(\.package)))</td><td>\(joined(g.map(\.version)))</td><td>\(joined(g.flatMap(\.fixedIn)))</td>"
                    + "<td>\(v.knownExploited == true ? "yes" : "")</td><td>\(v.epss.map { String(format: "%.3f", $0) } ?? "")</td>"
                    + "<td>\(g.compactMap(\.risk).max().map { String(format: "%.1f", $0) } ?? "")</td><td>\(used)</td></tr>"
            }.joined() + "</table>"
    }

    /// `library of /usr/bin/nginx` → `library`; `package python3-flask (one of its files is used)` → `package (one of its files is used)`.
    static func keptGroup(_ reason: String) -> String {
        if reason.hasPrefix("package ") || reason.hasPrefix("kept package ") {
            let detail = reason.firstIndex(of: "(").map { " " + reason[$0...] } ?? ""
            return (reason.hasPrefix("kept") ? "kept package" : "package") + detail
        }
        if let r = reason.range(of: " of ") { return String(reason[..<r.lowerBound]) }
        if let r = reason.range(of: " (") { return String(reason[..<r.lowerBound]) }
        return reason
    }
}
