import Foundation

/// Sizes given on the command line: `--memory-limit`, `--max-spill`.
///
/// Accepted forms: a plain number of bytes (`1048576`), decimal units `KB MB GB TB`
/// (powers of 10), binary units `KiB MiB GiB TiB` (powers of 2) and the single letters
/// `K M G T` as `sort -S`, Docker and DuckDB users type them (powers of 2: `64M` is
/// 64 MiB), each with an optional space and any letter case, and a percentage of the
/// machine's memory (`25%`), where the machine's memory is the cgroup's limit when one
/// is set.
public enum ByteSize {
    public static let acceptedForms = "bytes (1048576), KB/MB/GB/TB (powers of 10: 512MB), KiB/MiB/GiB/TiB or K/M/G/T (powers of 2: 256MiB, 256M), or a percentage of memory (25%)"

    /// Why `text` is not a size, for the error message; nil when it is one.
    public static func problem(_ text: String) -> String? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%"), let p = Double(t.dropLast().trimmingCharacters(in: .whitespaces)), !(p > 0 && p <= 100) {
            return "a percentage of memory is more than 0% and at most 100%"
        }
        return parse(text) == nil ? "it is not a size; use " + acceptedForms : nil
    }

    /// The bytes `text` stands for, or nil when it is none of the accepted forms.
    public static func parse(_ text: String, memoryBytes: Int = ByteSize.machineMemoryBytes()) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%") {
            guard let p = Double(t.dropLast().trimmingCharacters(in: .whitespaces)), p > 0, p <= 100 else { return nil }
            return Int(Double(memoryBytes) * p / 100)
        }
        var digitsEnd = t.startIndex
        while digitsEnd < t.endIndex, t[digitsEnd].isASCII, t[digitsEnd].isNumber || t[digitsEnd] == "." {
            digitsEnd = t.index(after: digitsEnd)
        }
        guard let number = Double(t[..<digitsEnd]), number >= 0 else { return nil }
        let unit = t[digitsEnd...].trimmingCharacters(in: .whitespaces).lowercased()
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
            "k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776,
        ]
        guard let m = multipliers[unit] else { return nil }
        if unit.isEmpty || unit == "b" { guard number == number.rounded() else { return nil } }
        let bytes = number * m
        guard bytes < 9e18 else { return nil }
        return Int(bytes)
    }

    /// The memory this process may use: the cgroup v2 or v1 limit when set, else physical RAM.
    public static func machineMemoryBytes() -> Int {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), // absent file: no cgroup limit
               let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0, limit < physical {
                return limit
            }
        }
        return physical
    }

    /// `1536 MiB`-style text for reports.
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[i])
    }
}
