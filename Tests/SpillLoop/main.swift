// Kill-test child: sorts random records in a small budget, spilling runs, until it is
// killed or signalled.
//
// usage: SpillLoop SPILL_PARENT
// Prints "folder PATH" once its spill folder exists, then "spilled N" after each sort
// that spilled, flushing each line.
import Foundation
import Spill

let args = CommandLine.arguments
guard args.count == 2 else {
    FileHandle.standardError.write(Data("usage: SpillLoop SPILL_PARENT\n".utf8))
    exit(64)
}
do {
    let spill = try SpillManager(parent: args[1])
    SpillManager.installSignalCleanup()
    FileHandle.standardOutput.write(Data("folder \(spill.folder)\n".utf8))
    var state: UInt64 = 42
    var round = 0
    while true {
        let budget = MemoryBudget(limitBytes: 256 << 10)
        let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, fanInMax: 4)
        var key = [UInt8](repeating: 0, count: 24)
        for _ in 0..<40_000 {
            for i in 0..<24 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                key[i] = UInt8(truncatingIfNeeded: state >> 56)
            }
            try key.withUnsafeBytes { try sorter.add(key: $0, payload: $0) }
        }
        try sorter.finish()
        while try sorter.next() != nil {}
        round += 1
        FileHandle.standardOutput.write(Data("spilled \(sorter.stats.runsSpilled) round \(round)\n".utf8))
    }
} catch {
    FileHandle.standardError.write(Data("SpillLoop: \(error)\n".utf8))
    exit(1)
}
