// harden — the fleet's PostgreSQL schema: versioned migrations, applied in order at start, each in one transaction.

/// One migration: its version and the statements that take the schema from version − 1 to it.
public struct Migration: Sendable {
    public var version: Int
    public var statements: [String]
}

public enum FleetSchema {
    /// Never edit a released migration: append a new one.
    public static let migrations: [Migration] = [
        Migration(
            version: 1,
            statements: [
                // Images by manifest digest (or config digest when an SBOM has no manifest); the last scan's SBOM summary.
                """
                CREATE TABLE images (
                    id BIGSERIAL PRIMARY KEY,
                    digest TEXT NOT NULL UNIQUE,
                    config_digest TEXT NOT NULL DEFAULT '',
                    refs TEXT[] NOT NULL DEFAULT '{}',
                    labels JSONB NOT NULL DEFAULT '{}',
                    platform TEXT NOT NULL DEFAULT '',
                    os JSONB,
                    package_count INTEGER NOT NULL DEFAULT 0,
                    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
                    scanned_at TIMESTAMPTZ,
                    report JSONB,
                    report_at TIMESTAMPTZ,
                    policy_failures TEXT[] NOT NULL DEFAULT '{}'
                )
                """,
                // Every package of every image; `eco`/`lookup` is what the matcher looks up (one row per lookup).
                """
                CREATE TABLE packages (
                    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
                    ref TEXT NOT NULL,
                    eco TEXT NOT NULL,
                    lookup TEXT NOT NULL,
                    type TEXT NOT NULL,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    purl TEXT NOT NULL,
                    detail JSONB NOT NULL,
                    PRIMARY KEY (image_id, ref, eco, lookup)
                )
                """,
                "CREATE INDEX packages_lookup ON packages (eco, lookup)",
                "CREATE INDEX packages_name ON packages (name)",
                // Findings with their history: `resolved_at` is set when a re-match or a new scan no longer finds them.
                """
                CREATE TABLE findings (
                    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
                    vuln_id TEXT NOT NULL,
                    package_ref TEXT NOT NULL,
                    ids TEXT[] NOT NULL,
                    package_name TEXT NOT NULL,
                    package_version TEXT NOT NULL,
                    package_type TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    kev BOOLEAN NOT NULL DEFAULT false,
                    epss DOUBLE PRECISION,
                    fix_state TEXT NOT NULL,
                    fixed_versions TEXT[] NOT NULL DEFAULT '{}',
                    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
                    resolved_at TIMESTAMPTZ,
                    PRIMARY KEY (image_id, vuln_id, package_ref)
                )
                """,
                "CREATE INDEX findings_vuln ON findings (vuln_id)",
                "CREATE INDEX findings_ids ON findings USING gin (ids)",
                // The queue. priority 0 = ad hoc, 1 = scheduled; a job runs while its lease is renewed.
                """
                CREATE TABLE jobs (
                    id BIGSERIAL PRIMARY KEY,
                    action TEXT NOT NULL,
                    image TEXT NOT NULL,
                    options JSONB NOT NULL DEFAULT '{}',
                    priority SMALLINT NOT NULL DEFAULT 0,
                    state TEXT NOT NULL DEFAULT 'queued',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL DEFAULT 3,
                    lease_owner TEXT,
                    lease_expires TIMESTAMPTZ,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    started_at TIMESTAMPTZ,
                    finished_at TIMESTAMPTZ,
                    error TEXT,
                    image_digest TEXT,
                    summary JSONB
                )
                """,
                "CREATE INDEX jobs_queued ON jobs (priority, id) WHERE state = 'queued'",
                "CREATE INDEX jobs_running ON jobs (lease_expires) WHERE state = 'running'",
                // A job's result is recorded once: the row is inserted in the transaction that writes the result.
                """
                CREATE TABLE job_results (
                    job_id BIGINT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
                    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
                    worker TEXT NOT NULL,
                    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE TABLE tokens (hash TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                // What the vulnerability database says about each lookup key, as a fingerprint: the diff between two
                // imports names exactly the keys to re-match.
                "CREATE TABLE advisory_keys (eco TEXT NOT NULL, lookup TEXT NOT NULL, fingerprint TEXT NOT NULL, PRIMARY KEY (eco, lookup))",
                """
                CREATE TABLE feed_imports (
                    id BIGSERIAL PRIMARY KEY,
                    db_digest TEXT NOT NULL,
                    at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    changed_keys INTEGER NOT NULL,
                    images INTEGER NOT NULL,
                    new_findings INTEGER NOT NULL,
                    resolved_findings INTEGER NOT NULL,
                    seconds DOUBLE PRECISION NOT NULL
                )
                """,
                // Webhook deliveries, written in the transaction that records the finding (an outbox), sent with retries.
                """
                CREATE TABLE webhook_events (
                    id BIGSERIAL PRIMARY KEY,
                    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
                    payload JSONB NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt TIMESTAMPTZ NOT NULL DEFAULT now(),
                    delivered_at TIMESTAMPTZ,
                    last_error TEXT
                )
                """,
                "CREATE INDEX webhook_pending ON webhook_events (next_attempt) WHERE delivered_at IS NULL",
                // Advanced after every committed change of findings: servers cache answers per value.
                "CREATE SEQUENCE findings_generation",
            ]),
        // Who submitted a job (the token's hash: per-token quotas), and whence a token came (the token file is the
        // truth for the tokens it seeded: one removed from it is revoked at the next start).
        Migration(
            version: 2,
            statements: [
                "ALTER TABLE jobs ADD COLUMN submitted_by TEXT NOT NULL DEFAULT ''",
                "CREATE INDEX jobs_pending_by ON jobs (submitted_by) WHERE state IN ('queued', 'running')",
                "ALTER TABLE tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'file'",
            ]),
        // End of life: the earliest date of the OS and runtimes found, and what each is (`?eol=true`).
        Migration(
            version: 3,
            statements: [
                "ALTER TABLE images ADD COLUMN eol_date DATE",
                "ALTER TABLE images ADD COLUMN eol JSONB",
                "CREATE INDEX images_eol ON images (eol_date) WHERE eol_date IS NOT NULL",
            ]),
    ]
}
