// harden — the fleet dashboard: server-rendered HTML from the same store queries the API answers with.
import Foundation
import HardenCore
import HardenPackages
import HardenVulnDB
import NIOHTTP1

struct Dashboard {
    let store: FleetStore

    func page(_ request: HTTPRequest, parts: [String]) async throws -> HTTPResponse {
        if parts.isEmpty { return html("harden fleet", try await index(request)) }
        if parts[0] == "images", parts.count == 2 {
            guard let d = try await store.image(digest: parts[1]) else {
                return .error(.notFound, "no image \(parts[1])")
            }
            return html("harden — \(d.image.references.first ?? d.image.digest)", imagePage(d))
        }
        if parts == ["vulnerabilities"] {
            let id = (request.query["id"] ?? "").trimmingCharacters(in: .whitespaces)
            return html("harden — \(id)", try await vulnerabilityPage(id))
        }
        return .error(.notFound, "no page \(request.path)")
    }

    static func esc(_ s: String) -> String { s.htmlEscaped }

    static func link(_ digest: String) -> String {
        "/images/" + (digest.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? digest)
    }

    func html(_ title: String, _ body: String) -> HTTPResponse {
        let page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(Self.esc(title))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
            header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
            header a{color:#fff;text-decoration:none;font-weight:600}
            main{padding:16px 24px}
            table{border-collapse:collapse;background:#fff;width:100%}
            th,td{padding:5px 8px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
            th{background:#eef0f4}
            .n{text-align:right;font-variant-numeric:tabular-nums}
            .critical{color:#a40000;font-weight:700}.high{color:#c94f00;font-weight:600}.medium{color:#8a6d00}
            .tiles{display:flex;gap:12px;margin-bottom:16px}.tile{background:#fff;padding:10px 16px;border:1px solid #e3e6eb}
            .tile b{display:block;font-size:22px}
            code{font-size:12px}
            </style></head><body>
            <header><a href="/">harden fleet</a>
            <form action="/vulnerabilities" method="get"><input name="id" placeholder="CVE-2024-…" aria-label="vulnerability">
            <button>Which images?</button></form></header><main>\(body)</main></body></html>
            """
        return .text(.ok, page, type: "text/html; charset=utf-8")
    }

    static let severities = ["critical", "high", "medium", "low", "negligible", "unknown"]

    func index(_ request: HTTPRequest) async throws -> String {
        let totals = try await store.totals()
        let images = try await store.images(
            fails: request.query["fails"], minimumSeverity: request.query["severity"].flatMap { $0.isEmpty ? nil : $0 },
            search: request.query["q"], limit: 500)
        var o = "<div class=\"tiles\">"
        o += "<div class=\"tile\" id=\"total-images\"><b>\(totals.images)</b>images</div>"
        o += "<div class=\"tile\" id=\"total-findings\"><b>\(totals.activeFindings)</b>active findings</div>"
        for s in ["critical", "high"] {
            o += "<div class=\"tile\" id=\"total-\(s)\"><b class=\"\(s)\">\(totals.bySeverity[s] ?? 0)</b>\(s)</div>"
        }
        o += "</div><table id=\"images\"><thead><tr><th>Image</th><th>Platform</th><th class=n>Packages</th>"
        for s in Self.severities.prefix(4) { o += "<th class=n>\(s.capitalized)</th>" }
        o += "<th class=n>KEV</th><th>Hardening</th><th>Scanned</th></tr></thead><tbody>"
        let df = ISO8601DateFormatter()
        for i in images {
            o += "<tr data-digest=\"\(Self.esc(i.digest))\"><td><a href=\"\(Self.esc(Self.link(i.digest)))\">"
            o +=
                Self.esc(i.references.first ?? i.digest)
                + "</a><br><code>\(Self.esc(String(i.digest.prefix(19))))…</code></td>"
            o += "<td>\(Self.esc(i.platform))</td><td class=n>\(i.packages)</td>"
            for s in Self.severities.prefix(4) {
                o += "<td class=\"n \(s)\" data-severity=\"\(s)\">\(i.bySeverity[s] ?? 0)</td>"
            }
            o += "<td class=n>\(i.knownExploited)</td>"
            o +=
                "<td>\(i.reportAt == nil ? "—" : (i.policyFailures.isEmpty ? "passed" : "fails: " + Self.esc(i.policyFailures.joined(separator: ", "))))</td>"
            o += "<td>\(i.scannedAt.map { Self.esc(df.string(from: $0)) } ?? "—")</td></tr>"
        }
        return o + "</tbody></table>"
    }

    func imagePage(_ d: ImageDetail) -> String {
        var o = "<h1>\(Self.esc(d.image.references.first ?? d.image.digest))</h1>"
        o +=
            "<p><code id=\"digest\">\(Self.esc(d.image.digest))</code> · \(Self.esc(d.image.platform)) · \(Self.esc(d.image.os ?? ""))</p>"
        o +=
            "<p>Packages: "
            + d.packagesByType.sorted { $0.key < $1.key }.map { "\(Self.esc($0.key)) \($0.value)" }.joined(
                separator: ", ")
            + "</p>"
        if d.image.reportAt != nil {
            o +=
                "<p>Hardening: \(d.image.policyFailures.isEmpty ? "passed" : "fails " + Self.esc(d.image.policyFailures.joined(separator: ", ")))</p>"
        }
        o +=
            "<h2>Findings (<span id=\"active-count\">\(d.findings.count)</span>)</h2><table id=\"findings\"><thead><tr>"
        o +=
            "<th>Vulnerability</th><th>Severity</th><th>Package</th><th>Version</th><th>Fix</th><th>KEV</th><th>First seen</th></tr></thead><tbody>"
        let df = ISO8601DateFormatter()
        for f in d.findings {
            o +=
                "<tr><td><a href=\"/vulnerabilities?id=\(Self.esc(f.id))\">\(Self.esc(f.id))</a></td><td class=\"\(f.severity.rawValue)\">\(f.severity.rawValue)</td>"
            o += "<td>\(Self.esc(f.package))</td><td>\(Self.esc(f.version))</td>"
            o +=
                "<td>\(Self.esc(f.fixedVersions.isEmpty ? f.fixState.rawValue : f.fixedVersions.joined(separator: ", ")))</td>"
            o += "<td>\(f.knownExploited ? "yes" : "")</td><td>\(Self.esc(df.string(from: f.firstSeen)))</td></tr>"
        }
        o += "</tbody></table>"
        if !d.resolved.isEmpty {
            o += "<h2>Resolved (\(d.resolved.count))</h2><table id=\"resolved\"><tbody>"
            for f in d.resolved {
                o += "<tr><td>\(Self.esc(f.id))</td><td>\(Self.esc(f.package)) \(Self.esc(f.version))</td>"
                o += "<td>resolved \(f.resolvedAt.map { Self.esc(df.string(from: $0)) } ?? "")</td></tr>"
            }
            o += "</tbody></table>"
        }
        return o
    }

    func vulnerabilityPage(_ id: String) async throws -> String {
        guard !id.isEmpty else { return "<p>Enter a vulnerability id.</p>" }
        let a = try await store.affected(vulnerability: id, limit: 500)
        var o = "<h1>\(Self.esc(id))</h1><p><span id=\"affected-count\">\(a.totalImages)</span> image(s) affected"
        o += a.next == nil ? "</p>" : " (the first 500 below; all through the API)</p>"
        o +=
            "<table id=\"affected\"><thead><tr><th>Image</th><th>Package</th><th>Version</th><th>Severity</th><th>Fix</th></tr></thead><tbody>"
        for r in a.images {
            o +=
                "<tr><td><a href=\"\(Self.esc(Self.link(r.digest)))\">\(Self.esc(r.references.first ?? r.digest))</a></td>"
            o +=
                "<td>\(Self.esc(r.package))</td><td>\(Self.esc(r.version))</td><td class=\"\(r.severity.rawValue)\">\(r.severity.rawValue)</td>"
            o +=
                "<td>\(Self.esc(r.fixedVersions.isEmpty ? r.fixState.rawValue : r.fixedVersions.joined(separator: ", ")))</td></tr>"
        }
        return o + "</tbody></table>"
    }
}
