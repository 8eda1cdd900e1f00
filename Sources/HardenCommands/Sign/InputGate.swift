// harden — the policy's `inputs:` rule: the input image must be signed (and attested) by a given key before harden
// works on it.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPipeline
import HardenPolicy
import HardenRegistry
import HardenSign
import HardenSystem
import Logging

enum InputGate {
    /// The CLI's gate: what was verified, or exit 2 with one line when the input fails the rule.
    static func checkOrExit(
        _ inputs: Policy.Inputs, policyFile: String?, reference: ImageReference, transport: ImageTransport
    ) async throws -> Evidence.InputVerification? {
        do {
            return try await check(inputs, policyFile: policyFile, reference: reference, transport: transport)
        } catch let failure as Failure {
            writeStandardError("harden: \(failure.message)\n")
            throw ExitCode(2)
        }
    }

    /// The input failed the rule (not an error reading it).
    struct Failure: Error {
        var message: String
    }

    /// Verifies `reference` against `inputs`; what was verified, for the provenance; `Failure` when the input fails
    /// the rule. `allowKeyFiles` is false for fleet jobs: a submitter's policy gives the key as PEM text, never a path
    /// on the worker.
    static func check(
        _ inputs: Policy.Inputs, policyFile: String?, reference: ImageReference, transport: ImageTransport,
        allowKeyFiles: Bool = true
    ) async throws -> Evidence.InputVerification? {
        guard let keySpec = inputs.requireSignatureKey else { return nil }
        let key = try loadKey(keySpec, policyFile: policyFile, allowFiles: allowKeyFiles)
        let types = try inputs.requireAttestations.map { try PredicateType(parsing: $0) }
        let store = try transport.attachments(for: reference)
        let findings: [AttachmentFinding]
        do {
            findings = try await AttachmentVerifier.verify(
                digest: try await store.subjectDigest(), store: store, key: key)
        } catch {
            await Signing.shutdown(store)
            throw error
        }
        await Signing.shutdown(store)
        let verified = findings.filter { $0.status == .verified }
        var missing: [String] = []
        if !verified.contains(where: { $0.kind == .signature }) { missing.append("signature") }
        for t in types where !verified.contains(where: { $0.kind == .attestation && $0.predicateType == t.uri }) {
            missing.append("\(t) attestation")
        }
        guard missing.isEmpty else {
            throw Failure(
                message:
                    "\(reference): the policy's inputs rule fails: no valid \(missing.joined(separator: ", ")) by key \(key.keyID)"
            )
        }
        return Evidence.InputVerification(keyID: key.keyID, attestations: types.map(\.uri))
    }

    static func loadKey(_ spec: String, policyFile: String?, allowFiles: Bool) throws -> VerificationKey {
        if spec.contains("-----BEGIN") {
            return try VerificationKey.load(
                pem: spec, source: "\(policyFile ?? "policy"): inputs.require_signature.key")
        }
        guard allowFiles else {
            throw HardenError(
                .invalidArgument,
                "policy: inputs.require_signature.key must be the PEM text in a job's policy, not a path on the worker")
        }
        var path = spec
        if !path.hasPrefix("/"), let policyFile { path = HostFS.split(policyFile).0 + "/" + path }
        return try KeyFiles.verificationKey(path)
    }
}
