// harden — where a registry's credentials may go, and the parsing of a registry's answers (pure rules).
import HardenRegistry
import HardenRegistryAuth
import Testing

@Suite struct AuthScopeTests {
    let tls = AuthScope(registryHost: "registry.example:5000", plainHTTPAllowed: false)
    let plain = AuthScope(registryHost: "127.0.0.1:5000", plainHTTPAllowed: true)
    let hub = AuthScope(registryHost: "registry-1.docker.io", plainHTTPAllowed: false)

    @Test func originsParse() {
        #expect(
            URLOrigin.parse("https://Registry.Example:5000/v2/")
                == URLOrigin(scheme: "https", host: "registry.example", port: 5000, hasUserInfo: false))
        #expect(URLOrigin.parse("http://a.b/x")?.port == 80)
        #expect(URLOrigin.parse("https://a.b?x")?.port == 443)
        #expect(URLOrigin.parse("https://user:pw@evil.example/")?.hasUserInfo == true)
        #expect(URLOrigin.parse("https://registry.example@evil.example/")?.host == "evil.example")
        #expect(
            URLOrigin.parse("https://[::1]:8443/v2/")
                == URLOrigin(scheme: "https", host: "[::1]", port: 8443, hasUserInfo: false))
        for bad in [
            "/v2/x", "ftp://a/", "file:///etc/passwd", "https://", "https://a:0/", "https://a:99999/", "https://a:x/",
            "https://[::1/",
        ] {
            #expect(URLOrigin.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func theAuthorizationHeaderGoesOnlyToTheRegistry() {
        #expect(tls.mayAuthorize("https://registry.example:5000/v2/x/blobs/uploads/1"))
        #expect(!tls.mayAuthorize("http://registry.example:5000/v2/"))  // clear text not allowed
        #expect(!tls.mayAuthorize("https://registry.example/v2/"))  // another port
        #expect(!tls.mayAuthorize("https://storage.example/upload?sig=1"))  // an upload Location elsewhere
        #expect(!tls.mayAuthorize("https://registry.example:5000@evil/v2/"))  // user info
        #expect(plain.mayAuthorize("http://127.0.0.1:5000/v2/"))
        #expect(!plain.mayAuthorize("http://127.0.0.2:5000/v2/"))
        #expect(hub.mayAuthorize("https://registry-1.docker.io/v2/library/nginx/manifests/1"))
    }

    @Test func credentialsGoToATokenRealmOnlySafely() {
        #expect(hub.maySendCredentials(toRealm: "https://auth.docker.io/token"))  // another host, over TLS
        #expect(!tls.maySendCredentials(toRealm: "http://auth.example/token"))  // clear text, another host
        #expect(!tls.maySendCredentials(toRealm: "http://registry.example:5000/t"))  // clear text not allowed
        #expect(plain.maySendCredentials(toRealm: "http://127.0.0.1:5001/token"))  // plain HTTP, the registry's host
        #expect(!plain.maySendCredentials(toRealm: "http://127.0.0.2:5000/token"))
        #expect(!hub.maySendCredentials(toRealm: "https://u:p@auth.docker.io/token"))
        #expect(!hub.maySendCredentials(toRealm: "javascript:alert(1)"))
    }

    @Test func uploadLocationsResolve() {
        let base = "https://registry.example:5000/v2/x/blobs/uploads/"
        #expect(
            AuthScope.resolveLocation("/v2/x/blobs/uploads/9?_state=a", base: base)
                == "https://registry.example:5000/v2/x/blobs/uploads/9?_state=a")
        #expect(AuthScope.resolveLocation("https://s3.example/up?sig=1", base: base) == "https://s3.example/up?sig=1")
        #expect(
            AuthScope.resolveLocation("/v2/x", base: "https://registry.example/v2/") == "https://registry.example/v2/x")
        #expect(AuthScope.resolveLocation("//evil.example/x", base: base) == nil)
        #expect(AuthScope.resolveLocation("relative/path", base: base) == nil)
        #expect(AuthScope.resolveLocation("/v2/x\r\nX-Injected: 1", base: base) == nil)
        #expect(AuthScope.resolveLocation("file:///etc/passwd", base: base) == nil)
    }

    @Test func answersParse() {
        let c = RegistryHeaders.parseChallenge(
            #" realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
        )
        #expect(
            c["realm"] == "https://auth.docker.io/token" && c["service"] == "registry.docker.io"
                && c["scope"] == "repository:library/nginx:pull")
        #expect(RegistryHeaders.parseChallenge("realm=x,service").isEmpty == false)
        #expect(RegistryHeaders.parseChallenge("\"unterminated").isEmpty)
        #expect(RegistryHeaders.contentRangeStart("bytes 1000-65535/65536") == 1000)
        #expect(RegistryHeaders.contentRangeStart("bytes */65536") == nil)
        #expect(RegistryHeaders.contentRangeStart("items 0-1/2") == nil)
    }
}
