// harden — VEX from suppliers: vers ranges, CSAF 2.0 VEX shaped like Red Hat's (branches, relationships, groups,
// flags, threats, version ranges) and CycloneDX VEX (bom-refs, purls, BOM-Links, versions), each suppressing exactly
// the findings it names; directories read as one source; bad input is a one-line error naming the file.
import Foundation
import HardenCore
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

struct VEXInputTests {
    static func finding(
        _ id: String, _ purl: String, type: String = "rpm", source: (String, String)? = nil, cpes: [String]? = nil
    ) -> Finding {
        let p = PURLParts(purl)
        return Finding(
            id: id, ids: [id],
            package: .init(
                ref: "ref-\(p.name)-\(p.version)", type: type, name: p.name, version: p.version, purl: purl, layer: nil,
                locations: [], sourceName: source?.0, sourceVersion: source?.1, cpes: cpes),
            matchedOn: "", fixState: .fixed, fixedVersions: [], severity: .high, ratings: [], summary: nil, sources: [],
            suppressed: nil)
    }

    /// name and version of a purl (tests only).
    struct PURLParts {
        var name: String
        var version: String
        init(_ purl: String) {
            let path = purl.split(separator: "?")[0]
            let last = path.split(separator: "/").last.map(String.init) ?? ""
            let nv = last.split(separator: "@", maxSplits: 1).map(String.init)
            name = nv[0]
            version = nv.count > 1 ? nv[1] : ""
        }
    }

    static func suppressed(_ findings: [Finding], by docs: [VEXDocument]) -> [String: Suppression] {
        var f = findings
        _ = Suppressor.apply(&f, vex: docs, ignores: [], imageDigest: "sha256:abc")
        var out: [String: Suppression] = [:]
        for x in f { if let s = x.suppressed { out[x.id + " " + x.package.purl] = s } }
        return out
    }

    @Test func versRangesFollowTheSpecificationsContainment() throws {
        let r = try #require(VersRange.parse("vers:deb/>=1.0|<1.2"))
        #expect(r.contains("1.1", comparator: DpkgVersion()) && r.contains("1.0", comparator: DpkgVersion()))
        #expect(!r.contains("1.2", comparator: DpkgVersion()) && !r.contains("0.9", comparator: DpkgVersion()))
        let holes = try #require(VersRange.parse("vers:rpm/<2.0|!=1.5|>=3.0"))
        #expect(holes.contains("1.4", comparator: RpmVersion()) && !holes.contains("1.5", comparator: RpmVersion()))
        #expect(!holes.contains("2.5", comparator: RpmVersion()) && holes.contains("3.1", comparator: RpmVersion()))
        let points = try #require(VersRange.parse("vers:pypi/1.0|2.0"))
        #expect(
            points.contains("1.0.0", comparator: PEP440Version())
                && !points.contains("1.5", comparator: PEP440Version()))
        #expect(try #require(VersRange.parse("vers:npm/*")).contains("9.9.9", comparator: SemanticVersion()))
        #expect(try #require(VersRange.parse("vers:deb/1:2.0~rc1%2Bdfsg")).constraints[0].version == "1:2.0~rc1+dfsg")
        for bad in ["1.0", "vers:", "vers:deb/", "vers:deb/>=", "vers:deb/<1|>>2", "pkg:deb/x"] {
            #expect(VersRange.parse(bad) == nil, "\(bad)")
        }
    }

    /// A CSAF VEX document shaped like Red Hat's: vendor → product family → product name (platform CPE) and product
    /// versions (purls), relationships making full products, a not-affected source component with a flag.
    static var redHatShaped: [String: Any] {
        [
            "document": [
                "category": "csaf_vex", "csaf_version": "2.0", "title": "openssl: a flaw",
                "publisher": [
                    "category": "vendor", "name": "Red Hat Product Security", "namespace": "https://www.redhat.com",
                ],
                "tracking": [
                    "id": "CVE-2026-0001", "status": "final", "version": "1",
                    "initial_release_date": "2026-01-01T00:00:00Z", "current_release_date": "2026-01-02T00:00:00Z",
                    "revision_history": [["date": "2026-01-01T00:00:00Z", "number": "1", "summary": "Initial"]],
                ],
            ],
            "product_tree": [
                "branches": [
                    [
                        "category": "vendor", "name": "Red Hat",
                        "branches": [
                            [
                                "category": "product_family", "name": "Red Hat Enterprise Linux",
                                "branches": [
                                    [
                                        "category": "product_name", "name": "Red Hat Enterprise Linux 9",
                                        "product": [
                                            "name": "Red Hat Enterprise Linux 9", "product_id": "BaseOS-9",
                                            "product_identification_helper": [
                                                "cpe": "cpe:/o:redhat:enterprise_linux:9::baseos"
                                            ],
                                        ],
                                    ]
                                ],
                            ],
                            [
                                "category": "architecture", "name": "x86_64",
                                "branches": [
                                    [
                                        "category": "product_version", "name": "openssl-libs-1:3.0.7-27.el9.x86_64",
                                        "product": [
                                            "name": "openssl-libs-1:3.0.7-27.el9.x86_64",
                                            "product_id": "openssl-libs-1:3.0.7-27.el9.x86_64",
                                            "product_identification_helper": [
                                                "purl": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"
                                            ],
                                        ],
                                    ]
                                ],
                            ],
                            [
                                "category": "product_version", "name": "zlib",
                                "product": [
                                    "name": "zlib", "product_id": "zlib",
                                    "product_identification_helper": ["purl": "pkg:rpm/redhat/zlib?arch=src"],
                                ],
                            ],
                        ],
                    ]
                ],
                "relationships": [
                    [
                        "category": "default_component_of", "product_reference": "openssl-libs-1:3.0.7-27.el9.x86_64",
                        "relates_to_product_reference": "BaseOS-9",
                        "full_product_name": [
                            "name": "openssl-libs as a component of Red Hat Enterprise Linux 9",
                            "product_id": "BaseOS-9:openssl-libs-1:3.0.7-27.el9.x86_64",
                        ],
                    ],
                    [
                        "category": "default_component_of", "product_reference": "zlib",
                        "relates_to_product_reference": "BaseOS-9",
                        "full_product_name": [
                            "name": "zlib as a component of Red Hat Enterprise Linux 9", "product_id": "BaseOS-9:zlib",
                        ],
                    ],
                ],
            ],
            "vulnerabilities": [
                [
                    "cve": "CVE-2026-0001",
                    "product_status": [
                        "fixed": ["BaseOS-9:openssl-libs-1:3.0.7-27.el9.x86_64"],
                        "known_not_affected": ["BaseOS-9:zlib"],
                    ],
                    "flags": [["label": "vulnerable_code_not_present", "product_ids": ["BaseOS-9:zlib"]]],
                    "remediations": [
                        [
                            "category": "vendor_fix", "details": "update",
                            "product_ids": ["BaseOS-9:openssl-libs-1:3.0.7-27.el9.x86_64"],
                        ]
                    ],
                ]
            ],
        ]
    }

    static func json(_ object: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    @Test func csafShapedLikeRedHatsSuppressesExactlyTheProductsItNames() throws {
        let doc = try VEXDocument.parse(try Self.json(Self.redHatShaped), "rh.json")
        #expect(doc.format == .csaf && doc.statements.count == 2)
        let fixedOpenSSL = "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"
        let oldOpenSSL = "pkg:rpm/redhat/openssl-libs@3.0.7-20.el9?arch=x86_64&epoch=1"
        let zlib = "pkg:rpm/redhat/zlib@1.2.11-40.el9?arch=x86_64"
        let findings = [
            Self.finding("CVE-2026-0001", fixedOpenSSL), Self.finding("CVE-2026-0001", oldOpenSSL),
            Self.finding("CVE-2026-0001", zlib, source: ("zlib", "1.2.11-40.el9")),
            Self.finding("CVE-2026-9999", zlib, source: ("zlib", "1.2.11-40.el9")),
            Self.finding("CVE-2026-0001", "pkg:rpm/rocky/zlib@1.2.11-40.el9?arch=x86_64", source: ("zlib", "1")),
        ]
        let s = Self.suppressed(findings, by: [doc])
        #expect(s.count == 2, "\(s.keys.sorted())")
        #expect(s["CVE-2026-0001 \(fixedOpenSSL)"]?.status == "fixed")
        #expect(s["CVE-2026-0001 \(fixedOpenSSL)"]?.source == "rh.json (CSAF)")
        let z = s["CVE-2026-0001 \(zlib)"]
        #expect(z?.status == "not_affected" && z?.justification == "vulnerable_code_not_present")
    }

    @Test func csafVersionRangesGroupsAndThreats() throws {
        let doc: [String: Any] = [
            "document": ["category": "csaf_vex", "csaf_version": "2.0"],
            "product_tree": [
                "branches": [
                    [
                        "category": "product_name", "name": "libfoo",
                        "branches": [
                            [
                                "category": "product_version_range", "name": "vers:deb/>=1.0|<1.2.3-1",
                                "product": [
                                    "name": "libfoo before 1.2.3-1", "product_id": "FOO-OLD",
                                    "product_identification_helper": ["purl": "pkg:deb/debian/libfoo"],
                                ],
                            ]
                        ],
                    ],
                    [
                        "category": "product_version", "name": "bar 2.0",
                        "product": [
                            "name": "bar 2.0", "product_id": "BAR",
                            "product_identification_helper": ["cpe": "cpe:2.3:a:example:bar:2.0:*:*:*:*:*:*:*"],
                        ],
                    ],
                ],
                "product_groups": [["group_id": "G", "product_ids": ["FOO-OLD", "BAR"]]],
            ],
            "vulnerabilities": [
                [
                    "ids": [["system_name": "Example", "text": "EX-2026-7"]],
                    "product_status": ["known_not_affected": ["FOO-OLD", "BAR"]],
                    "threats": [["category": "impact", "details": "only reachable as root", "group_ids": ["G"]]],
                ]
            ],
        ]
        let parsed = try VEXDocument.parse(try Self.json(doc), "ranges.json")
        let inRange = Self.finding("EX-2026-7", "pkg:deb/debian/libfoo@1.2.2-1?arch=amd64", type: "deb")
        let atFix = Self.finding("EX-2026-7", "pkg:deb/debian/libfoo@1.2.3-1?arch=amd64", type: "deb")
        let bar = Self.finding(
            "EX-2026-7", "pkg:generic/bar@2.0", type: "binary", cpes: ["cpe:2.3:a:example:bar:2.0:*:*:*:*:*:*:*"])
        let bar3 = Self.finding(
            "EX-2026-7", "pkg:generic/bar@3.0", type: "binary", cpes: ["cpe:2.3:a:example:bar:3.0:*:*:*:*:*:*:*"])
        let s = Self.suppressed([inRange, atFix, bar, bar3], by: [parsed])
        #expect(Set(s.keys) == ["EX-2026-7 \(inRange.package.purl)", "EX-2026-7 \(bar.package.purl)"], "\(s.keys)")
        #expect(s["EX-2026-7 \(bar.package.purl)"]?.justification == "only reachable as root")
    }

    @Test func cycloneDXVEXByBomRefPurlBomLinkAndVersions() throws {
        let doc: [String: Any] = [
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": [
                [
                    "type": "library", "bom-ref": "c1", "name": "urllib3", "version": "1.23",
                    "purl": "pkg:pypi/urllib3@1.23",
                ]
            ],
            "vulnerabilities": [
                [
                    "id": "CVE-2023-43804",
                    "analysis": ["state": "not_affected", "justification": "code_not_reachable"],
                    "affects": [["ref": "c1"]],
                ],
                [
                    "id": "GHSA-x", "references": [["id": "CVE-2024-3651", "source": ["name": "NVD"]]],
                    "analysis": ["state": "resolved"],
                    "affects": [["ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:pypi/idna@3.6"]],
                ],
                [
                    "id": "CVE-2018-18074", "analysis": ["state": "in_triage"],
                    "affects": [["ref": "pkg:pypi/requests@2.19.1"]],
                ],
                [
                    "id": "CVE-2026-1", "analysis": ["state": "false_positive"],
                    "affects": [
                        [
                            "ref": "pkg:pypi/jinja2",
                            "versions": [
                                ["range": "vers:pypi/<3.0", "status": "unaffected"],
                                ["version": "3.1.2", "status": "affected"],
                            ],
                        ]
                    ],
                ],
                ["id": "CVE-2026-2", "ratings": [["severity": "high"]]],
            ],
        ]
        let parsed = try VEXDocument.parse(try Self.json(doc), "cdx.json")
        #expect(parsed.format == .cycloneDX && parsed.statements.count == 4)
        let f = [
            Self.finding("CVE-2023-43804", "pkg:pypi/urllib3@1.23", type: "python"),
            Self.finding("CVE-2024-3651", "pkg:pypi/idna@3.6", type: "python"),
            Self.finding("CVE-2024-3651", "pkg:pypi/idna@3.7", type: "python"),
            Self.finding("CVE-2018-18074", "pkg:pypi/requests@2.19.1", type: "python"),
            Self.finding("CVE-2026-1", "pkg:pypi/Jinja2@2.11.3", type: "python"),
            Self.finding("CVE-2026-1", "pkg:pypi/jinja2@3.1.2", type: "python"),
        ]
        let s = Self.suppressed(f, by: [parsed])
        #expect(
            Set(s.keys) == [
                "CVE-2023-43804 pkg:pypi/urllib3@1.23", "CVE-2024-3651 pkg:pypi/idna@3.6",
                "CVE-2026-1 pkg:pypi/Jinja2@2.11.3",
            ], "\(s.keys)")
        #expect(s["CVE-2023-43804 pkg:pypi/urllib3@1.23"]?.justification == "code_not_reachable")
        #expect(s["CVE-2024-3651 pkg:pypi/idna@3.6"]?.status == "fixed")
    }

    @Test func aDirectoryIsOneSourceAndBadInputNamesTheFile() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/vex/2026")
            try HostFS.writeFileAtomically(dir + "/vex/2026/cve-2026-0001.json", try Self.json(Self.redHatShaped))
            try HostFS.writeFileAtomically(
                dir + "/vex/provider-metadata.json",
                Array(#"{"canonical_url": "https://x", "role": "csaf_provider"}"#.utf8))
            try HostFS.writeFileAtomically(dir + "/vex/index.txt", Array("2026/cve-2026-0001.json\n".utf8))
            let docs = try VEXDocument.load(dir + "/vex")
            #expect(docs.count == 1 && docs[0].source == dir + "/vex/2026/cve-2026-0001.json")
            try HostFS.makeDirectories(dir + "/empty")
            #expect(throws: HardenError.self) { try VEXDocument.load(dir + "/empty") }
            try HostFS.writeFileAtomically(dir + "/vex/2026/broken.json", Array("{\"document\":".utf8))
            do {
                _ = try VEXDocument.load(dir + "/vex")
                Issue.record("broken JSON must fail")
            } catch let e as HardenError {
                #expect(e.description.contains("broken.json") && e.description.contains("not valid JSON"))
            }
            let unknown = try? VEXDocument.parse(Array(#"{"spdxVersion": "SPDX-2.3"}"#.utf8), "x.json")
            #expect(unknown == nil)
            let badState = try? VEXDocument.parse(
                Array(#"{"bomFormat":"CycloneDX","vulnerabilities":[{"id":"C","analysis":{"state":"maybe"}}]}"#.utf8),
                "s.json")
            #expect(badState == nil)
            let csaf21 = try? VEXDocument.parse(Array(#"{"document":{"csaf_version":"2.1"}}"#.utf8), "v.json")
            #expect(csaf21 == nil)
        }
    }
}
