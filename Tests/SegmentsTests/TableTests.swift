import Foundation
import Testing
@testable import Segments

@Suite struct TableTests {
    static let schema = Schema([Field("id", .int64), Field("name", .string)])

    /// Writes one segment of ids `ids` into `partition` and stages it.
    static func addSegment(_ w: TableWriter, _ ids: Range<Int>, partition: [String]) throws {
        let seg = try w.newSegment(partition: partition)
        let idv = ColumnVector(type: .int64, capacity: max(ids.count, 1))
        let names = ColumnVector(type: .string, capacity: max(ids.count, 1))
        for i in ids {
            idv.appendInt64(Int64(i))
            names.appendString("n\(i)")
        }
        try seg.append([idv, names])
        w.stage(try seg.finish(), partition: partition)
    }

    static func ids(_ reader: TableReader) throws -> [Int64] {
        var out: [Int64] = []
        for seg in try (0..<reader.segmentCount).map({ try reader.segment($0) }) {
            let v = seg.makeVector(column: 0)
            for g in seg.rowGroups.indices {
                try seg.read(column: 0, rowGroup: g, into: v)
                out += (0..<v.count).map { v.int64($0) }
            }
        }
        return out.sorted()
    }

    @Test func commitsAddAndRemoveWithHivePartitions() throws {
        let dir = TempDir("table")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema, partitionColumns: ["year", "month"])
        try Self.addSegment(w, 0..<10, partition: ["2025", "3"])
        try Self.addSegment(w, 10..<15, partition: ["2025", "4"])
        #expect(try w.commit(operation: "first") == 1)
        #expect(SystemIO.isDirectory(path + "/year=2025/month=3"))
        #expect(SystemIO.isDirectory(path + "/year=2025/month=4"))
        try Self.addSegment(w, 15..<20, partition: ["2025", "3"])
        let march = w.base!.files[0].path
        #expect(try w.commit(operation: "second", remove: [march]) == 2)
        w.close()

        let snap = try Table.snapshot(at: path)
        #expect(snap.version == 2)
        #expect(snap.rowCount == 10)
        #expect(snap.partitionColumns == ["year", "month"])
        #expect(Set(snap.partitions) == [["year": "2025", "month": "3"], ["year": "2025", "month": "4"]])
        #expect(try Self.ids(TableReader(path: path)) == (10..<20).map(Int64.init))
        #expect(!SystemIO.exists(path + "/" + march), "a removed file is deleted once the commit is durable")
        // Version 1 is still described by the log.
        #expect(try Table.snapshot(at: path, version: 1).rowCount == 15)
        #expect(try Table.versions(at: path) == [1, 2])
    }

    @Test func aReaderKeepsItsSnapshotAcrossCommits() throws {
        let dir = TempDir("snap")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema)
        try Self.addSegment(w, 0..<100, partition: [])
        try w.commit(operation: "v1")
        let old = try TableReader(path: path)
        try Self.addSegment(w, 500..<510, partition: [])
        try w.commit(operation: "overwrite", replaceAll: true)
        w.close()
        // The old files are deleted from the folder, but the old reader holds them open.
        #expect(try Self.ids(old) == (0..<100).map(Int64.init))
        #expect(try Self.ids(TableReader(path: path)) == (500..<510).map(Int64.init))
    }

    @Test func aSecondWriterIsRefused() throws {
        let dir = TempDir("lock")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let first = try TableWriter(path: path, schema: Self.schema)
        #expect { try TableWriter(path: path, schema: Self.schema) } throws: {
            let e = $0 as? SegmentError
            return e?.code == .locked && (e?.message.contains("pid \(getpid())") ?? false)
        }
        first.close()
        let second = try TableWriter(path: path, schema: Self.schema)
        second.close()
    }

    @Test func leftoversOfAFailedCommitAreRemovedByTheNextWriter() throws {
        let dir = TempDir("left")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema, partitionColumns: ["d"])
        try Self.addSegment(w, 0..<5, partition: ["a"])
        try w.commit(operation: "v1")
        // A commit that fails at its commit point: the log entry's fsync.
        try Self.addSegment(w, 5..<9, partition: ["b"])
        SystemIO.setFaults([SystemIO.Fault(.fsync, pathContains: path + "/_log/", errno: EIO)])
        #expect { try w.commit(operation: "v2") } throws: { ($0 as? SegmentError)?.errno == EIO }
        SystemIO.setFaults([])
        // A segment being written when the process died, and a half-written log entry.
        let half = try w.newSegment(partition: ["c"])
        #expect(FileManager.default.createFile(atPath: path + "/_log/00000000000000000002.log.tmp-999", contents: Data("{".utf8)))
        w.close()
        try withExtendedLifetime(half) { // never finished: its temporary file stays, as after a crash
            let staged = try FileManager.default.subpathsOfDirectory(atPath: path).filter { $0.contains("part-") }
            #expect(staged.count == 3)
        }

        let next = try TableWriter(path: path, schema: Self.schema, partitionColumns: ["d"])
        let remaining = try FileManager.default.subpathsOfDirectory(atPath: path).filter { $0.contains("part-") || $0.contains(".tmp-") }
        #expect(remaining == [w.base!.files[0].path], "left: \(remaining)")
        #expect(!SystemIO.exists(path + "/d=b") && !SystemIO.exists(path + "/d=c"))
        try Self.addSegment(next, 9..<12, partition: ["b"])
        #expect(try next.commit(operation: "v2") == 2)
        next.close()
        #expect(try Self.ids(TableReader(path: path)) == [0, 1, 2, 3, 4, 9, 10, 11])
    }

    @Test func diskFullWhileWritingASegmentIsAClearError() throws {
        let dir = TempDir("full")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema)
        defer { w.close() }
        SystemIO.setFaults([SystemIO.Fault(.write, pathContains: path, errno: ENOSPC, after: 1, shortWrite: true)])
        defer { SystemIO.setFaults([]) }
        #expect { try Self.addSegment(w, 0..<1000, partition: []) } throws: {
            let e = $0 as? SegmentError
            return e?.errno == ENOSPC && (e?.description.contains("free disk space") ?? false)
        }
        SystemIO.setFaults([])
        // Nothing of the failed segment is left, and the table still takes commits.
        #expect(try FileManager.default.subpathsOfDirectory(atPath: path).filter { $0.contains("part-") }.isEmpty)
        try Self.addSegment(w, 0..<3, partition: [])
        #expect(try w.commit(operation: "after") == 1)
    }

    @Test func damagedLogIsReported() throws {
        let dir = TempDir("log")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema)
        try Self.addSegment(w, 0..<3, partition: [])
        try w.commit(operation: "v1")
        w.close()
        let entry = path + "/_log/" + LogEntry.fileName(1)
        var bytes = try SystemIO.readFile(entry)
        bytes[10] ^= 0x20
        try SystemIO.writeFileAtomically(entry, bytes)
        #expect { try Table.snapshot(at: path) } throws: {
            let e = $0 as? SegmentError
            return e?.code == .badLog && e?.path == entry
        }
        #expect { try Table.snapshot(at: dir.path) } throws: { ($0 as? SegmentError)?.code == .badLog }
    }

    /// A committed file that is gone while the log still holds it is damage, not a
    /// writer's replacement; `firstMissingOrShortFile` sees it, and a short file, cheaply.
    @Test func aMissingCommittedFileIsDamage() throws {
        let dir = TempDir("missing")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        let w = try TableWriter(path: path, schema: Self.schema)
        try Self.addSegment(w, 0..<3, partition: [])
        try Self.addSegment(w, 3..<6, partition: [])
        try w.commit(operation: "v1")
        w.close()
        let snap = try Table.snapshot(at: path)
        #expect(snap.firstMissingOrShortFile() == nil)
        #expect(truncate(path + "/" + snap.files[1].path, 10) == 0)
        #expect(snap.firstMissingOrShortFile()?.contains("is 10 bytes, its commit recorded \(snap.files[1].bytes)") == true)
        try SystemIO.unlink(path + "/" + snap.files[0].path)
        #expect(snap.firstMissingOrShortFile() == "committed file \(snap.files[0].path) is missing")
        #expect { try TableReader(path: path) } throws: {
            let e = $0 as? SegmentError
            return e?.code == .corrupt && e?.message.contains("is missing: the table is damaged") == true && e?.message.contains("another writer") == false
        }
    }

    /// Every commit of a table carries the id its first commit made; a table made again
    /// in the same folder gets another.
    @Test func tableIdsSurviveCommitsAndDifferForANewTable() throws {
        let dir = TempDir("ids")
        defer { dir.cleanup() }
        let path = dir.path + "/t"
        func commitOnce(replace: Bool) throws -> TableSnapshot {
            let w = try TableWriter(path: path, schema: Self.schema)
            defer { w.close() }
            try Self.addSegment(w, 0..<3, partition: [])
            try w.commit(operation: "c", replaceAll: replace)
            return try Table.snapshot(at: path)
        }
        let first = try commitOnce(replace: false)
        let second = try commitOnce(replace: true)
        #expect(first.tableId.count == 32 && second.tableId == first.tableId && second.identity == first.tableId + "@2")
        try FileManager.default.removeItem(atPath: path)
        let anew = try commitOnce(replace: false)
        #expect(anew.version == 1 && anew.tableId != first.tableId)
        // Set aside under the lock: the folder moves whole.
        try TableWriter.setAside(path, to: dir.path + "/aside/t")
        let moved = try Table.snapshot(at: dir.path + "/aside/t")
        #expect(!SystemIO.exists(path) && moved.tableId == anew.tableId)
    }
}
