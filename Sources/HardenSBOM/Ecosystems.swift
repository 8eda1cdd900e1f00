// harden — the package ecosystems harden knows, in the order their catalogers run. Adding one is adding its module
// and a line here: the layer scan, the catalog, minify's database rewrite and the patch stage ask this list.
import HardenApk
import HardenDpkg
import HardenPackages
import HardenRpm

public enum Ecosystems {
    /// dpkg, apk and rpm.
    public static let standard: [any PackageEcosystem] = [DpkgEcosystem(), ApkEcosystem(), RpmEcosystem()]

    /// The catalogers of language ecosystems (no package manager of the OS), in the order they run after the OS's.
    public static var languageCatalogers: [any Cataloger] {
        [
            PythonCataloger(), NpmCataloger(), GemCataloger(), GoBinaryCataloger(), JavaArchiveCataloger(),
            BinaryCataloger(), RustAuditCataloger(), DotnetDepsCataloger(), ComposerCataloger(),
        ]
    }
}
