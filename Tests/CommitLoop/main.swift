// Crash-test child: commits to a table in a loop until it is killed.
//
// usage: CommitLoop TABLE ROWS_PER_COMMIT
// Commit k (k = 1, 2, ...) adds one segment holding the int64 values
// k*1_000_000 ..< k*1_000_000 + ROWS_PER_COMMIT, and replaces every earlier file on
// every third commit, so kills land in writes, renames, log commits and deletions.
// After each commit it prints "committed V" and flushes, so the parent knows which
// versions are durable.
import Foundation
import Segments

let args = CommandLine.arguments
guard args.count == 3, let rowsPerCommit = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: CommitLoop TABLE ROWS_PER_COMMIT\n".utf8))
    exit(64)
}
let schema = Schema([Field("value", .int64), Field("label", .string)])
do {
    let writer = try TableWriter(path: args[1], schema: schema, partitionColumns: ["bucket"])
    let values = ColumnVector(type: .int64, capacity: rowsPerCommit)
    let labels = ColumnVector(type: .string, capacity: rowsPerCommit)
    while true {
        let version = (writer.base?.version ?? 0) + 1
        values.reset()
        labels.reset()
        for i in 0..<rowsPerCommit {
            values.appendInt64(Int64(version * 1_000_000 + i))
            labels.appendString("v\(version)-\(i % 7)")
        }
        var options = SegmentWriterOptions(compression: .zstd(1), rowGroupRows: 1000)
        options.metadata = ["k": String(version)]
        let seg = try writer.newSegment(partition: [String(version % 3)], options: options)
        try seg.append([values, labels])
        writer.stage(try seg.finish(), partition: [String(version % 3)])
        let committed = try writer.commit(operation: "loop", replaceAll: version % 3 == 0, info: ["k": String(version)])
        // Unbuffered, so the parent sees the line before any kill.
        FileHandle.standardOutput.write(Data("committed \(committed)\n".utf8))
    }
} catch {
    FileHandle.standardError.write(Data("CommitLoop: \(error)\n".utf8))
    exit(1)
}
