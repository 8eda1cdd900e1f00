// harden — package databases rewritten to what is left: dpkg status Conffiles, info lists, apk installed.
import HardenApk
import HardenDpkg
import HardenMinify
import HardenPackages
import HardenTestSupport
import Testing

@Suite struct PackageDatabaseTests {
    static let status = """
        Package: nginx-common
        Status: install ok installed
        Version: 1.22.1-9
        Conffiles:
         /etc/nginx/nginx.conf 9e4b8a
         /etc/nginx/fastcgi_params 4d2e1c
         /etc/logrotate.d/nginx 11aa22 obsolete
        Description: web server
         common files

        Package: gone
        Status: install ok installed
        Version: 1

        Package: tzdata
        Conffiles:
         /etc/timezone 77ff00 remove-on-upgrade
        Version: 2026b

        """

    @Test func statusKeepsPackagesLeftAndTheirConffilesThatAre() {
        let present: Set<String> = ["/etc/nginx/nginx.conf"]
        let out = String(
            decoding: DpkgStatus.filter(
                Array(Self.status.utf8), keeping: ["nginx-common", "tzdata"], isPresent: present.contains),
            as: UTF8.self)
        #expect(
            out == """
                Package: nginx-common
                Status: install ok installed
                Version: 1.22.1-9
                Conffiles:
                 /etc/nginx/nginx.conf 9e4b8a
                Description: web server
                 common files

                Package: tzdata
                Version: 2026b

                """)
        // Everything present: the kept stanzas are byte for byte the original ones.
        let all = String(
            decoding: DpkgStatus.filter(Array(Self.status.utf8), keeping: ["nginx-common", "gone", "tzdata"]),
            as: UTF8.self)
        #expect(all == Self.status)
    }

    @Test func fileListsKeepOnlyWhatIsPresent() {
        let present: Set<String> = ["/.", "/usr", "/usr/sbin", "/usr/sbin/nginx", "/etc/nginx/nginx.conf"]
        let list = "/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n/usr/share\n/usr/share/man/man8/nginx.8.gz\n"
        #expect(
            String(
                decoding: DpkgStatus.pruneFileList(Array(list.utf8), kind: "list", isPresent: present.contains),
                as: UTF8.self)
                == "/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n")
        let md5 = "0123abcd  usr/sbin/nginx\nffee0011  usr/share/man/man8/nginx.8.gz\nmalformed\n"
        #expect(
            String(
                decoding: DpkgStatus.pruneFileList(Array(md5.utf8), kind: "md5sums", isPresent: present.contains),
                as: UTF8.self)
                == "0123abcd  usr/sbin/nginx\nmalformed\n")
        let conffiles = "/etc/nginx/nginx.conf\nremove-on-upgrade /etc/nginx/old.conf\n/etc/nginx/fastcgi_params\n"
        #expect(
            String(
                decoding: DpkgStatus.pruneFileList(
                    Array(conffiles.utf8), kind: "conffiles", isPresent: present.contains), as: UTF8.self)
                == "/etc/nginx/nginx.conf\n")
    }

    @Test func apkKeepsPackagesLeftWithTheirFilesLeft() {
        let present: Set<String> = ["/usr", "/usr/lib", "/usr/lib/libfoo.so.1", "/usr/bin"]
        let out = String(
            decoding: ApkInstalled.filter(
                Array(ApkFixture.installed.utf8), keeping: ["libfoo"], isPresent: present.contains), as: UTF8.self
        )
        #expect(out == ApkFixture.onlyLibfooLeft)
        // Everything present and kept: the database is unchanged.
        let all = String(
            decoding: ApkInstalled.filter(
                Array(ApkFixture.installed.utf8), keeping: ["libfoo", "tool"], isPresent: { _ in true }),
            as: UTF8.self)
        #expect(all == ApkFixture.installed + "\n")
    }

    /// Random damage never crashes, and nothing that was not in the input appears in the output.
    @Test func randomInputNeverCrashes() {
        var rng = SeededGenerator(for: "randomInputNeverCrashes")
        let seeds = [Array(Self.status.utf8), Array(ApkFixture.installed.utf8)]
        for i in 0..<2000 {
            var bytes = seeds[i % 2]
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.insert(UInt8(ascii: "\n"), at: at)
                default: bytes.remove(at: at)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            let keepAll: (String) -> Bool = { $0.utf8.count % 2 == 0 }  // deterministic: replays with the seed
            for output in [
                DpkgStatus.filter(bytes, keeping: ["nginx-common", "tzdata"], isPresent: keepAll),
                DpkgStatus.pruneFileList(bytes, kind: ["list", "md5sums", "conffiles"][i % 3], isPresent: keepAll),
                ApkInstalled.filter(bytes, keeping: ["libfoo", "tool"], isPresent: keepAll),
            ] {
                let lines = Set(
                    String(decoding: bytes, as: UTF8.self).unicodeScalars.split(separator: "\n").map { String($0) })
                let extra = String(decoding: output, as: UTF8.self).unicodeScalars.split(separator: "\n").map {
                    String($0)
                }.filter {
                    !lines.contains($0)
                }
                #expect(extra.isEmpty, "\(extra) in \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
        }
    }
}
