/// Thrift's compact protocol, the write side: how Parquet's page headers and footer are
/// encoded (apache/parquet-format, parquet.thrift).
///
/// ```
///   field header   (id - previous id) << 4 | type, when the step is 1...15;
///                  else the type byte, then the id as a zigzag varint
///   bool field     the type carries the value: 1 true, 2 false; no payload
///   i8             one byte;  i16, i32, i64: zigzag varint
///   binary         varint length, then the bytes
///   list           size << 4 | element type (size < 15), else 0xF0 | type, varint size
///   struct         its fields, then a stop byte 0; ids restart at 0 inside it
/// ```
struct ThriftCompactWriter {
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8
        case list = 9, set = 10, map = 11, structure = 12
    }

    private(set) var bytes: [UInt8] = []
    /// The last field id written, per open struct.
    private var lastIds: [Int] = [0]

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    mutating func fieldHeader(_ id: Int, _ type: FieldType) {
        let delta = id - lastIds[lastIds.count - 1]
        if (1...15).contains(delta) {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            zigzag(Int64(id))
        }
        lastIds[lastIds.count - 1] = id
    }

    mutating func bool(_ id: Int, _ v: Bool) { fieldHeader(id, v ? .boolTrue : .boolFalse) }

    mutating func i8(_ id: Int, _ v: Int8) {
        fieldHeader(id, .byte)
        bytes.append(UInt8(bitPattern: v))
    }

    mutating func i32(_ id: Int, _ v: Int32) {
        fieldHeader(id, .i32)
        zigzag(Int64(v))
    }

    mutating func i64(_ id: Int, _ v: Int64) {
        fieldHeader(id, .i64)
        zigzag(v)
    }

    mutating func binary(_ id: Int, _ b: [UInt8]) {
        fieldHeader(id, .binary)
        varint(UInt64(b.count))
        bytes += b
    }

    mutating func string(_ id: Int, _ s: String) { binary(id, Array(s.utf8)) }

    /// A struct field: its fields follow, then `end()`.
    mutating func beginStruct(_ id: Int) {
        fieldHeader(id, .structure)
        lastIds.append(0)
    }

    /// A struct that is an element of a list.
    mutating func beginElement() { lastIds.append(0) }

    /// Closes the innermost struct (or, at the top, the message).
    mutating func end() {
        bytes.append(0)
        if lastIds.count > 1 { lastIds.removeLast() }
    }

    mutating func beginList(_ id: Int, of type: FieldType, count: Int) {
        fieldHeader(id, .list)
        if count < 15 {
            bytes.append(UInt8(count) << 4 | type.rawValue)
        } else {
            bytes.append(0xF0 | type.rawValue)
            varint(UInt64(count))
        }
    }

    /// An i32 element of a list.
    mutating func element(_ v: Int32) { zigzag(Int64(v)) }

    /// A binary (string) element of a list.
    mutating func element(_ s: String) {
        let b = Array(s.utf8)
        varint(UInt64(b.count))
        bytes += b
    }
}
