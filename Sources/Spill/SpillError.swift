/// The one error type of the Spill module.
public struct SpillError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// A reservation could not grow and the operator cannot spill any further.
        case outOfMemoryBudget
        /// Spill files would exceed `--max-spill`.
        case outOfSpillQuota
        /// The spill folder's disk is full.
        case outOfDisk
        /// Creating, writing or reading a spill file failed for another reason.
        case io
    }

    public var code: Code
    /// What asked: an operator or buffer name.
    public var consumer: String
    public var requestedBytes: Int
    public var message: String

    public init(_ code: Code, consumer: String, requestedBytes: Int, _ message: String) {
        self.code = code
        self.consumer = consumer
        self.requestedBytes = requestedBytes
        self.message = message
    }

    public var description: String { "\(consumer): \(message)" }
}
