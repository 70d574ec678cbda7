import Foundation
import Testing

/// Every document a file of the repository cites (`docs/FORMAT.md`, `README.md`, a
/// relative Markdown link) is in the repository, so no help text, error or comment
/// sends a user to a page they do not have.
@Suite struct DocumentReferenceTests {
    @Test func everyCitedDocumentExists() throws {
        let fm = FileManager.default
        let roots = ["Sources", "Tests", "docs", "pipelines", "Bench/Benchmarks", "README.md", "Makefile"]
        var files: [String] = []
        for root in roots {
            let full = repositoryRoot + "/" + root
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
            if !isDir.boolValue { files.append(root); continue }
            for case let rel as String in fm.enumerator(atPath: full) ?? FileManager.DirectoryEnumerator() {
                let ext = (rel as NSString).pathExtension
                if ["swift", "md", "py", "yaml", "h", "c"].contains(ext) { files.append(root + "/" + rel) }
            }
        }
        #expect(files.count > 50, "the scan found too few files to mean anything")
        // Every Markdown document of the repository, by its path and by its last name.
        let documents = try Set(["README.md"] + fm.contentsOfDirectory(atPath: repositoryRoot + "/docs").map { "docs/" + $0 })
        let names = Set(documents.map { ($0 as NSString).lastPathComponent })
        let pattern = try NSRegularExpression(pattern: #"[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md\b"#)
        var missing: [String] = []
        for file in files {
            guard let text = try? String(contentsOfFile: repositoryRoot + "/" + file, encoding: .utf8) else { continue } // not text
            let ns = text as NSString
            for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
                var cited = ns.substring(with: m.range)
                if cited.hasPrefix("/") { cited.removeFirst() } // a path built in code from the root and a slash
                let base = (file as NSString).deletingLastPathComponent
                let relative = ((base.isEmpty ? cited : base + "/" + cited) as NSString).standardizingPath
                if documents.contains(cited) || documents.contains(relative) || (!cited.contains("/") && names.contains(cited)) { continue }
                missing.append("\(file) cites \(cited)")
            }
        }
        #expect(missing.isEmpty, "\(missing.joined(separator: "\n"))")
    }
}
