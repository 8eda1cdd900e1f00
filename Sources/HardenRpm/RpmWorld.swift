// harden — the set of packages an rpm upgrade would leave (the installed ones not replaced, plus the planned
// ones) and the questions the resolver asks of it: is a requirement (plain or rich) met, does anything conflict.
import HardenCore

struct World {
    var kept: [RpmInstalledPackage]
    var planned: [RpmRepoPackage]
    var keptNames: Set<String>
    var provides: [String: [RpmRelation]] = [:]
    var files = Set<String>()

    init(installed: [RpmInstalledPackage], plan: [String: RpmPlanned]) {
        let replaced = Set(plan.values.flatMap { $0.replaces.map(\.hnum) })
        kept = installed.filter { !replaced.contains($0.hnum) }
        planned = plan.values.map(\.package)
        keptNames = Set(kept.map(\.name))
        for k in kept {
            provides[k.name, default: []].append(RpmRelation(name: k.name, evr: k.evr))
            for p in k.provides { provides[p.name, default: []].append(p) }
            files.formUnion(k.files)
        }
        for p in planned {
            provides[p.name, default: []].append(RpmRelation(name: p.name, evr: p.evr))
            for r in p.provides { provides[r.name, default: []].append(r) }
            files.formUnion(p.files)
        }
    }

    func isKept(_ i: RpmInstalledPackage) -> Bool { kept.contains { $0.hnum == i.hnum } }

    func satisfies(_ r: RpmRelation) -> Bool {
        if r.name.hasPrefix("rpmlib(") || r.name.hasPrefix("config(") && provides[r.name] == nil { return true }
        if r.name.hasPrefix("(") { return (try? RichDependency.parse(r.name).holds(in: self)) ?? false }
        if r.name.hasPrefix("/"), files.contains(r.name) { return true }
        return (provides[r.name] ?? []).contains { RpmResolver.matches(provided: $0, r) }
    }

    /// Refuses a plan where a package conflicts with another one left installed or planned.
    func checkConflicts() throws {
        let all: [(String, [RpmRelation])] =
            kept.map { ($0.name, $0.conflicts) } + planned.map { ($0.name, $0.conflicts) }
        for (name, conflicts) in all {
            for c in conflicts where (provides[c.name] ?? []).contains(where: { RpmResolver.matches(provided: $0, c) })
            {
                // A package never conflicts with itself.
                if c.name == name { continue }
                throw HardenError(
                    .unsupported,
                    "\(name) conflicts with \(RpmResolver.describe(c)), which the upgrade leaves installed")
            }
        }
    }
}

/// rpm's boolean dependencies: `(A and B)`, `or`, `if … else …`, `unless … else …`, `with`, `without`.
public indirect enum RichDependency: Sendable {
    case plain(RpmRelation)
    case and([RichDependency]), or([RichDependency])
    case conditional(RichDependency, condition: RichDependency, otherwise: RichDependency?, negated: Bool)
    case with(RichDependency, RichDependency), without(RichDependency, RichDependency)

    public static func parse(_ text: String) throws -> RichDependency {
        var tokens = tokenize(text)[...]
        let d = try expression(&tokens)
        guard tokens.isEmpty else { throw HardenError(.corrupt, "rich dependency \(text): trailing \(tokens.first!)") }
        return d
    }

    static func tokenize(_ s: String) -> [String] {
        var out: [String] = []
        var word = ""
        for ch in s {
            if ch == "(" || ch == ")" || ch == " " {
                if !word.isEmpty { out.append(word) }
                word = ""
                if ch != " " { out.append(String(ch)) }
            } else {
                word.append(ch)
            }
        }
        if !word.isEmpty { out.append(word) }
        return out
    }

    static let operators: [String: RpmRelation.Flag] = ["=": .eq, "<": .lt, "<=": .le, ">": .gt, ">=": .ge]

    static func expression(_ t: inout ArraySlice<String>) throws -> RichDependency {
        guard t.first == "(" else {
            guard let name = t.popFirst() else { throw HardenError(.corrupt, "rich dependency ends early") }
            var r = RpmRelation(name: name)
            if let op = t.first, let flag = operators[op], t.count >= 2 {
                t.removeFirst()
                let evr = RpmRelation(name: name, evr: t.removeFirst())
                r.flag = flag
                (r.epoch, r.version, r.release) = (evr.epoch, evr.version, evr.release)
            }
            return .plain(r)
        }
        t.removeFirst()
        let first = try expression(&t)
        var items = [first]
        var op: String?
        var result: RichDependency?
        while let next = t.first, next != ")" {
            t.removeFirst()
            switch next {
            case "and", "or":
                op = next
                items.append(try expression(&t))
            case "if", "unless":
                let condition = try expression(&t)
                var otherwise: RichDependency?
                if t.first == "else" {
                    t.removeFirst()
                    otherwise = try expression(&t)
                }
                result = .conditional(first, condition: condition, otherwise: otherwise, negated: next == "unless")
            case "with": result = .with(first, try expression(&t))
            case "without": result = .without(first, try expression(&t))
            default: throw HardenError(.corrupt, "rich dependency: unknown operator \(next)")
            }
        }
        guard t.popFirst() == ")" else { throw HardenError(.corrupt, "rich dependency: missing )") }
        if let result { return result }
        return op == "or" ? .or(items) : items.count == 1 ? first : .and(items)
    }

    func holds(in world: World) -> Bool {
        switch self {
        case .plain(let r): return world.satisfies(r)
        case .and(let items): return items.allSatisfy { $0.holds(in: world) }
        case .or(let items): return items.contains { $0.holds(in: world) }
        case .conditional(let then, let condition, let otherwise, let negated):
            if condition.holds(in: world) != negated { return then.holds(in: world) }
            return otherwise?.holds(in: world) ?? true
        case .with(let a, let b): return a.holds(in: world) && b.holds(in: world)
        case .without(let a, let b): return a.holds(in: world) && !b.holds(in: world)
        }
    }
}
