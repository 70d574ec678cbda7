import Foundation
import Yams

/// Reads a pipeline file's YAML into a `PipelineFile`: every key known, every value of
/// its kind, every expression parsed, each mistake named with its line and column and
/// what to write instead. Names and types are checked afterwards (`TypeChecker`).
public struct PipelineLoader {
    let path: String
    let text: String
    let lines: [Substring]

    /// Reads and loads the file at `path`.
    public static func load(path: String) throws -> PipelineFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BatchError(.missingInput, path: path, "the pipeline file does not exist or cannot be read; give --pipeline a YAML pipeline file (see docs/PIPELINES.md)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BatchError.pipeline(path, .init(line: 1, column: 1), "the pipeline file is not UTF-8 text")
        }
        return try load(text: text, path: path)
    }

    public static func load(text: String, path: String) throws -> PipelineFile {
        try PipelineLoader(path: path, text: text, lines: text.split(separator: "\n", omittingEmptySubsequences: false)).file()
    }

    // MARK: errors and positions

    func fail(_ at: PipelineFile.Position, _ message: String) -> BatchError { .pipeline(path, at, message) }

    func position(_ node: Node) -> PipelineFile.Position {
        node.mark.map { PipelineFile.Position(line: $0.line, column: $0.column) } ?? .init(line: 1, column: 1)
    }

    func file() throws -> PipelineFile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw fail(.init(line: 1, column: 1), "the pipeline file is empty; see docs/PIPELINES.md for what it holds") }
            root = node
        } catch let error as YamlError {
            throw yamlError(error)
        }
        let top = try mapping(root, "the pipeline file", keys: ["name", "landing", "silver", "gold", "generate", "publish"], required: ["name", "landing", "silver"])
        let landing = try mapping(try req(top, "landing"), "landing", keys: ["facts", "references"], required: ["facts"])
        let facts = try feed(try req(landing, "facts"), "landing.facts", isReference: false)
        var references: [PipelineFile.Feed] = []
        if let refs = landing["references"] {
            for item in try sequence(refs, "landing.references") { references.append(try feed(item, "a reference of landing.references", isReference: true)) }
        }
        var file = PipelineFile(path: path, text: text, name: try name(try req(top, "name"), "name"), facts: facts, references: references,
                                silver: try silver(try req(top, "silver")), gold: try top["gold"].map(gold) ?? [])
        if let g = top["generate"] { file.generation = try generation(g, file) }
        if let p = top["publish"] {
            let dir = try scalar(p, "publish")
            guard !dir.isEmpty else { throw fail(position(p), "publish is a folder for the published Delta tables, e.g. publish: /data/published") }
            file.publish = dir
        }
        return file
    }

    func yamlError(_ error: YamlError) -> BatchError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return fail(.init(line: mark.line, column: mark.column), "not valid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return fail(.init(line: context.mark.line, column: context.mark.column), "a key is given twice in one mapping: \(duplicates.joined(separator: ", ")); keep one")
        default:
            return fail(.init(line: 1, column: 1), "not valid YAML: \(error)")
        }
    }

    // MARK: node kinds

    /// A mapping's entries by key, in order; unknown keys and missing required keys are
    /// mistakes named with their place.
    struct Entries {
        var pairs: [(key: String, value: Node, at: PipelineFile.Position)]
        subscript(_ key: String) -> Node? { pairs.first { $0.key == key }?.value }
        func at(_ key: String) -> PipelineFile.Position? { pairs.first { $0.key == key }?.at }
    }

    func mapping(_ node: Node, _ what: String, keys: [String], required: [String] = []) throws -> Entries {
        guard case let .mapping(m) = node else { throw fail(position(node), "\(what) must be a mapping of \(keys.joined(separator: ", ")); found \(kind(node))") }
        var out = Entries(pairs: [])
        for (k, v) in m {
            guard case let .scalar(s) = k else { throw fail(position(k), "a key of \(what) must be a name") }
            guard keys.contains(s.string) else {
                if s.string.hasSuffix(")"), s.string.dropLast().allSatisfy(\.isNumber) {
                    throw fail(position(k), "inside { }, the comma of decimal(p,s) separates entries: quote the type, type: 'decimal(18,2)'")
                }
                let hint = Suggest.closest(s.string, in: keys).map { "; did you mean '\($0)'?" } ?? "; the keys of \(what) are \(keys.joined(separator: ", "))"
                throw fail(position(k), "unknown key '\(s.string)' in \(what)\(hint)")
            }
            out.pairs.append((s.string, v, position(k)))
        }
        for r in required where out[r] == nil {
            throw fail(position(node), "\(what) needs the key '\(r)'")
        }
        return out
    }

    /// A key `mapping` already required (so it is there).
    func req(_ entries: Entries, _ key: String) throws -> Node {
        guard let v = entries[key] else { throw fail(.init(line: 1, column: 1), "the key '\(key)' is missing") }
        return v
    }

    func sequence(_ node: Node, _ what: String) throws -> [Node] {
        guard case let .sequence(s) = node else { throw fail(position(node), "\(what) must be a list (items starting with '- '); found \(kind(node))") }
        return Array(s)
    }

    func scalar(_ node: Node, _ what: String) throws -> String {
        guard case let .scalar(s) = node else { throw fail(position(node), "\(what) must be a single value; found \(kind(node))") }
        return s.string
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): "'\(s.string)'"
        case .alias: "an alias"
        }
    }

    /// A table or column name: letters, digits and `_`, not starting with a digit.
    func name(_ node: Node, _ what: String) throws -> String {
        let s = try scalar(node, what)
        guard Self.isName(s) else { throw fail(position(node), "\(what) '\(s)' is not a name: use letters, digits and _, starting with a letter or _") }
        return s
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    func names(_ node: Node, _ what: String) throws -> [(name: String, at: PipelineFile.Position)] {
        if case .scalar = node { return [(try name(node, what), position(node))] }
        return try sequence(node, what).map { (try name($0, what), position($0)) }
    }

    func bool(_ node: Node, _ what: String) throws -> Bool {
        switch try scalar(node, what).lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default: throw fail(position(node), "\(what) must be true or false")
        }
    }

    // MARK: expressions

    func source(_ node: Node, _ what: String) throws -> PipelineFile.Source {
        guard case let .scalar(s) = node else { throw fail(position(node), "\(what) must be an expression (text); found \(kind(node))") }
        let at = position(node)
        var starts: [(Int, PipelineFile.Position)] = []
        switch s.style {
        case .literal, .folded:
            // The text starts on the line after the indicator; each line keeps its indent.
            var offset = 0
            for (k, line) in s.string.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let fileLine = at.line + 1 + k
                let indent = fileLine - 1 < lines.count ? lines[fileLine - 1].prefix { $0 == " " }.count : 0
                starts.append((offset, .init(line: fileLine, column: indent + 1)))
                offset += line.utf8.count + 1
            }
        case .singleQuoted, .doubleQuoted:
            starts.append((0, .init(line: at.line, column: at.column + 1)))
        default:
            starts.append((0, at))
        }
        return PipelineFile.Source(text: s.string, at: at, lineStarts: starts)
    }

    func parse(_ source: PipelineFile.Source) throws -> Expr {
        do { return try ExpressionParser.parse(source.text) } catch {
            throw fail(source.position(of: error.offset), error.message)
        }
    }

    /// A list item `name: expression`, or a bare `name` (that column as it is).
    func named(_ node: Node, _ what: String) throws -> PipelineFile.Named {
        if case let .scalar(s) = node {
            let n = try name(node, what)
            return PipelineFile.Named(name: n, source: try source(node, what), expr: Expr(.column(qualifier: nil, name: s.string), at: 0), at: position(node))
        }
        guard case let .mapping(m) = node, m.count == 1, let (k, v) = m.first else {
            throw fail(position(node), "\(what) must be 'name: expression' (one key) or a column name")
        }
        let n = try name(k, what + "'s name")
        let src = try source(v, "the expression of \(n)")
        return PipelineFile.Named(name: n, source: src, expr: try parse(src), at: position(k))
    }

    func namedList(_ node: Node, _ what: String) throws -> [PipelineFile.Named] {
        let items = try sequence(node, what).map { try named($0, "an item of \(what)") }
        var seen = Set<String>()
        for item in items where !seen.insert(item.name).inserted {
            throw fail(item.at, "\(what) has two items named '\(item.name)'; give each its own name")
        }
        return items
    }

    func lookups(_ node: Node, _ what: String) throws -> [PipelineFile.Lookup] {
        try sequence(node, what).map { item in
            let m = try mapping(item, "a lookup of \(what)", keys: ["reference", "on", "as"], required: ["reference", "on"])
            let reference = try name(try req(m, "reference"), "reference")
            let on = try source(try req(m, "on"), "on")
            return PipelineFile.Lookup(reference: reference, alias: try m["as"].map { try name($0, "as") } ?? reference,
                                       on: on, onExpr: try parse(on), at: position(item))
        }
    }

    // MARK: sections

    func feed(_ node: Node, _ what: String, isReference: Bool) throws -> PipelineFile.Feed {
        let keys = isReference ? ["name", "file", "key", "columns"] : ["name", "files", "columns"]
        let m = try mapping(node, what, keys: keys, required: keys)
        let name = try self.name(try req(m, "name"), "name")
        let filesNode = try req(m, isReference ? "file" : "files")
        let files = try scalar(filesNode, isReference ? "file" : "files")
        guard !files.isEmpty, !files.hasPrefix("/"), !files.split(separator: "/").contains("..") else {
            throw fail(position(filesNode), "'\(files)' must be a path relative to the landing zone (RAW), without '..'")
        }
        if isReference {
            guard files.hasSuffix(".csv") || files.hasSuffix(".csv.zst"), !files.contains("*") else {
                throw fail(position(try req(m, "file")), "a reference file is one .csv or .csv.zst file, not '\(files)'")
            }
        } else {
            guard files.hasSuffix(".csv") else {
                throw fail(position(try req(m, "files")), "files must end in .csv ('events/**/*.csv' also takes the .csv.zst files), not '\(files)'")
            }
        }
        var columns: [PipelineFile.Column] = []
        for item in try sequence(try req(m, "columns"), "\(name)'s columns") {
            let c = try mapping(item, "a column of \(name)", keys: ["name", "type", "case", "required", "unsigned", "generate"], required: ["name", "type"])
            let cname = try self.name(try req(c, "name"), "a column name")
            let typeText = try scalar(try req(c, "type"), "type")
            guard let type = ValueType.parse(typeText), type != .null else {
                throw fail(position(try req(c, "type")), "'\(typeText)' is not a type; write one of string, bool, int32, int64, float64, decimal(p,s) (p up to 18), date, timestamp")
            }
            var textCase = PipelineFile.TextCase.asIs
            if let n = c["case"] {
                guard let tc = PipelineFile.TextCase(rawValue: try scalar(n, "case")) else { throw fail(position(n), "case must be upper, lower or as-is") }
                guard type == .string || tc == .asIs else { throw fail(position(n), "case applies to string columns; \(cname) is \(type)") }
                textCase = tc
            }
            guard !columns.contains(where: { $0.name.lowercased() == cname.lowercased() }) else {
                throw fail(position(try req(c, "name")), "\(name) has two columns named '\(cname)' (header names are matched case-insensitively)")
            }
            var column = PipelineFile.Column(name: cname, type: type, textCase: textCase, required: try c["required"].map { try bool($0, "required") } ?? true,
                                             at: position(item))
            if let u = c["unsigned"] {
                guard type.isNumeric else { throw fail(position(u), "unsigned applies to number columns; \(cname) is \(type)") }
                column.signed = !(try bool(u, "unsigned"))
            }
            if let g = c["generate"] { column.hint = try hint(g, column, earlier: columns) }
            columns.append(column)
        }
        guard !columns.isEmpty else { throw fail(position(try req(m, "columns")), "\(name) needs at least one column") }
        var key: String?
        if isReference {
            let k = try self.name(try req(m, "key"), "key")
            guard let kc = columns.first(where: { $0.name == k }) else {
                throw fail(position(try req(m, "key")), "key '\(k)' is not a column of \(name); its columns are \(columns.map(\.name).joined(separator: ", "))")
            }
            guard kc.type != .float64 && kc.type != .bool else { throw fail(position(try req(m, "key")), "a key of type \(kc.type) cannot be looked up exactly; use a string or integer key") }
            key = k
        }
        return PipelineFile.Feed(name: name, files: files, key: key, columns: columns, at: position(node))
    }

    func silver(_ node: Node) throws -> PipelineFile.Silver {
        let m = try mapping(node, "silver", keys: ["expectations", "dedup", "lookups", "columns", "partition", "order", "overflow"],
                            required: ["columns", "partition", "order"])
        var expectations: [PipelineFile.Named] = []
        if let e = m["expectations"] {
            for item in try sequence(e, "silver.expectations") {
                if case .scalar = item { throw fail(position(item), "an expectation is 'name: SQL condition', the name being the quarantine reason") }
                let x = try named(item, "an expectation")
                guard x.name != "malformed_row" else { throw fail(x.at, "malformed_row is built in (a ragged or non-UTF-8 record) and always comes first; give this expectation another name") }
                guard !expectations.contains(where: { $0.name == x.name }) else { throw fail(x.at, "two expectations are named '\(x.name)'; a quarantine reason names one") }
                expectations.append(x)
            }
        }
        var dedup: PipelineFile.Dedup?
        if let d = m["dedup"] {
            if case let .scalar(s) = d, s.string == "none" {
                dedup = nil
            } else {
                let dm = try mapping(d, "silver.dedup", keys: ["key", "keep", "by"], required: ["key", "keep", "by"])
                let keepText = try scalar(try req(dm, "keep"), "keep")
                guard let keep = PipelineFile.Keep(rawValue: keepText) else { throw fail(position(try req(dm, "keep")), "keep must be greatest or least, not '\(keepText)'") }
                dedup = .init(key: try names(try req(dm, "key"), "a dedup key column"), keep: keep, by: try names(try req(dm, "by"), "a dedup order column"), at: position(d))
            }
        }
        let partition = try req(m, "partition")
        if let o = m["overflow"], try name(o, "overflow") == "malformed_row" {
            throw fail(position(o), "malformed_row is built in (a ragged or non-UTF-8 record); name the overflow reason otherwise")
        }
        return PipelineFile.Silver(expectations: expectations, dedup: dedup, lookups: try m["lookups"].map { try lookups($0, "silver.lookups") } ?? [],
                                   columns: try namedList(try req(m, "columns"), "silver.columns"),
                                   partition: (try name(partition, "partition"), position(partition)),
                                   order: try names(try req(m, "order"), "an order column"),
                                   overflow: try m["overflow"].map { (try name($0, "overflow"), position($0)) }, at: position(node))
    }

    // MARK: generation hints

    func share(_ node: Node, _ what: String) throws -> Double {
        let text = try scalar(node, what)
        guard let x = Double(text), (0...1).contains(x) else { throw fail(position(node), "\(what) is a share of the rows, 0 to 1 (0.02 is 2%), not '\(text)'") }
        return x
    }

    func count(_ node: Node, _ what: String, least: Int = 1) throws -> Int {
        let text = try scalar(node, what)
        guard let x = Int(text), x >= least else { throw fail(position(node), "\(what) is a whole number, \(least) or more, not '\(text)'") }
        return x
    }

    /// A value of `column` in the units of `ColumnHint`.
    func units(_ node: Node, _ column: PipelineFile.Column) throws -> Int64 {
        let text = try scalar(node, "a value of \(column.name)")
        var t = text
        let v: Int64? = t.withUTF8 { b in
            let s = UnsafeRawBufferPointer(b)
            switch column.type {
            case .int32, .int64: return FieldParsers.int64(s)
            case let .decimal(p, sc): return FieldParsers.decimal(s, wholeDigits: p - sc, scale: sc)
            case .float64: return FieldParsers.decimal(s, wholeDigits: 15, scale: 2)
            case .date: return FieldParsers.date(s).map(Int64.init)
            case .timestamp: return FieldParsers.timestamp(s) ?? FieldParsers.date(s).map { Int64($0) * CivilTime.microsPerDay }
            default: return nil
            }
        }
        guard let v else {
            let form = column.type == .float64 ? "a number with at most 2 decimals" : "a value of type \(column.type)"
            throw fail(position(node), "'\(text)' is not \(form), as column \(column.name) needs")
        }
        return v
    }

    func pair(_ node: Node, _ what: String, _ item: (Node) throws -> Int64) throws -> (Int64, Int64) {
        let items = try sequence(node, what)
        guard items.count == 2 else { throw fail(position(node), "\(what) is [low, high]") }
        let (lo, hi) = (try item(items[0]), try item(items[1]))
        guard lo <= hi else { throw fail(position(items[0]), "\(what): the low end is above the high end") }
        return (lo, hi)
    }

    func hint(_ node: Node, _ column: PipelineFile.Column, earlier: [PipelineFile.Column]) throws -> PipelineFile.ColumnHint {
        let m = try mapping(node, "generate of \(column.name)", keys: ["range", "values", "distinct", "nulls", "after", "seconds"])
        var h = PipelineFile.ColumnHint(at: position(node))
        let ordered = [ValueType.string, .bool].allSatisfy { $0 != column.type }
        if let r = m["range"] {
            guard ordered else { throw fail(position(r), "range applies to numbers, dates and timestamps; \(column.name) is \(column.type): give values or distinct") }
            h.range = try pair(r, "range", { try units($0, column) })
        }
        if let v = m["values"] {
            let items = try sequence(v, "values")
            guard !items.isEmpty else { throw fail(position(v), "values needs at least one value") }
            h.values = try items.map { item in
                if column.type != .string, column.type != .bool { _ = try units(item, column) }
                return try scalar(item, "a value")
            }
        }
        if let d = m["distinct"] {
            guard column.type == .string || column.type.isInteger else { throw fail(position(d), "distinct applies to string and integer columns; \(column.name) is \(column.type)") }
            h.distinct = try count(d, "distinct")
        }
        if let n = m["nulls"] { h.nulls = try share(n, "nulls") }
        if let a = m["after"] {
            guard column.type == .timestamp else { throw fail(position(a), "after applies to timestamp columns; \(column.name) is \(column.type)") }
            let other = try name(a, "after")
            guard let o = earlier.first(where: { $0.name == other }), o.type == .timestamp else {
                let names = earlier.filter { $0.type == .timestamp }.map(\.name)
                throw fail(position(a), "after names a timestamp column listed before \(column.name)" + (names.isEmpty ? "; there is none" : ": one of \(names.joined(separator: ", "))"))
            }
            guard let secs = m["seconds"] else { throw fail(position(a), "after needs seconds: [low, high], the gap to \(other)") }
            let (lo, hi) = try pair(secs, "seconds", { n in Int64(try count(n, "seconds", least: Int.min)) })
            h.after = (other, lo, hi)
        } else if let secs = m["seconds"] {
            throw fail(position(secs), "seconds goes with after: the timestamp column this one follows")
        }
        if h.range != nil && h.values != nil { throw fail(position(node), "give range or values, not both") }
        return h
    }

    func generation(_ node: Node, _ file: PipelineFile) throws -> PipelineFile.Generation {
        let m = try mapping(node, "generate", keys: ["start", "days", "rows", "duplicates", "versions", "broken"])
        var g = PipelineFile.Generation()
        if let s = m["start"] {
            var text = try scalar(s, "start")
            guard let day = text.withUTF8({ FieldParsers.date(UnsafeRawBufferPointer($0)) }) else { throw fail(position(s), "start is a date YYYY-MM-DD, not '\(text)'") }
            g.startDay = day
        }
        if let d = m["days"] { g.days = try count(d, "days") }
        if let r = m["rows"] {
            for (k, v, _) in try mapping(r, "generate.rows", keys: file.references.map(\.name)).pairs {
                g.rows[k] = try count(v, "rows of \(k)")
            }
        }
        if let d = m["duplicates"] { g.duplicates = try share(d, "duplicates") }
        if let v = m["versions"] { g.versions = try share(v, "versions") }
        if let b = m["broken"] {
            if case .mapping = b {
                let reasons = ["malformed_row"] + file.silver.expectations.map(\.name)
                for (k, v, _) in try mapping(b, "generate.broken", keys: reasons).pairs { g.brokenByReason[k] = try share(v, "broken \(k)") }
            } else {
                g.broken = try share(b, "broken")
            }
        }
        if let v = m["versions"], file.silver.dedup == nil, (g.versions ?? 0) > 0 {
            throw fail(position(v), "versions are later rows of a dedup key, and silver has no dedup")
        }
        return g
    }

    func gold(_ node: Node) throws -> [PipelineFile.GoldTable] {
        var tables: [PipelineFile.GoldTable] = []
        for item in try sequence(node, "gold") {
            let m = try mapping(item, "a gold table", keys: ["name", "reference", "calendar", "from", "lookups", "where", "group_by", "measures",
                                                             "columns", "partition", "order"], required: ["name"])
            let name = try self.name(try req(m, "name"), "name")
            guard !tables.contains(where: { $0.name == name }) else { throw fail(m.at("name") ?? position(item), "two gold tables are named '\(name)'") }
            let kinds = ["reference", "calendar", "measures"].filter { m[$0] != nil }
            guard kinds.count <= 1 else { throw fail(position(item), "gold table \(name) has \(kinds.joined(separator: " and ")); a table is one kind: reference, calendar, a projection (columns) or an aggregate (group_by and measures)") }
            func refuse(_ keys: [String], _ kindName: String) throws {
                if let k = keys.first(where: { m[$0] != nil }) { throw fail(m.at(k) ?? position(item), "'\(k)' does not apply to \(kindName) table \(name)") }
            }
            var kind: PipelineFile.GoldTable.Kind = .projection
            var from = "silver"
            var columns: [PipelineFile.Named] = []
            if let r = m["reference"] {
                try refuse(["calendar", "from", "lookups", "where", "group_by", "measures", "columns", "partition", "order"], "reference")
                kind = .reference(try self.name(r, "reference"))
            } else if let c = m["calendar"] {
                try refuse(["from", "lookups", "where", "group_by", "measures", "partition"], "calendar")
                let text = try scalar(c, "calendar")
                let parts = text.split(separator: ".").map(String.init)
                guard (1...2).contains(parts.count), parts.allSatisfy(Self.isName) else {
                    throw fail(position(c), "calendar names a date column: 'column' of silver or 'table.column'")
                }
                kind = .calendar(table: parts.count == 2 ? parts[0] : "silver", column: parts.last ?? text)
                guard let cols = m["columns"] else { throw fail(position(item), "calendar table \(name) needs columns: expressions over date") }
                columns = try namedList(cols, "\(name).columns")
            } else if let measures = m["measures"] {
                try refuse(["columns", "partition"], "aggregate")
                guard let groups = m["group_by"] else { throw fail(position(item), "aggregate table \(name) needs group_by") }
                let filter = try m["where"].map { w -> PipelineFile.Named in
                    let src = try source(w, "where")
                    return PipelineFile.Named(name: "where", source: src, expr: try parse(src), at: position(w))
                }
                kind = .aggregate(filter: filter, groupBy: try namedList(groups, "\(name).group_by"), measures: try namedList(measures, "\(name).measures"))
                from = try m["from"].map { try self.name($0, "from") } ?? "silver"
            } else {
                try refuse(["where", "group_by"], "projection")
                guard let cols = m["columns"] else { throw fail(position(item), "gold table \(name) needs one of reference, calendar, columns (a projection) or group_by and measures (an aggregate)") }
                columns = try namedList(cols, "\(name).columns")
                from = try m["from"].map { try self.name($0, "from") } ?? "silver"
            }
            var partition: (PipelineFile.Partition, at: PipelineFile.Position)?
            if let p = m["partition"] {
                let text = try scalar(p, "partition").replacingOccurrences(of: " ", with: "")
                if text.hasPrefix("month("), text.hasSuffix(")"), case let col = String(text.dropFirst(6).dropLast()), Self.isName(col) {
                    partition = (.month(col), position(p))
                } else if Self.isName(text) {
                    partition = (.day(text), position(p))
                } else {
                    throw fail(position(p), "partition is a date column (one folder per day) or month(column) (year=/month= folders)")
                }
            }
            tables.append(PipelineFile.GoldTable(name: name, kind: kind, from: from, lookups: try m["lookups"].map { try lookups($0, "\(name).lookups") } ?? [],
                                                 columns: columns, partition: partition, order: try m["order"].map { try names($0, "an order column") } ?? [],
                                                 at: position(item)))
        }
        return tables
    }
}

/// "Did you mean": the closest of some names, when it is close enough to be a typo.
public enum Suggest {
    static func closest(_ word: String, in candidates: [String]) -> String? {
        let w = Array(word.lowercased().utf8)
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c.lowercased().utf8))
            if d <= max(2, w.count / 3), d < w.count, best.map({ d < $0.1 }) ?? true { best = (c, d) }
        }
        return best?.0
    }

    /// Levenshtein distance of two names (their UTF-8 bytes).
    public static func distance(_ a: String, _ b: String) -> Int { distance(Array(a.utf8), Array(b.utf8)) }

    /// Levenshtein distance.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
